namespace Contramask.Tests;

static class Fixture
{
    public static string Path(params string[] parts) =>
        System.IO.Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);

    public static string TempFolder()
    {
        var folder = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "contramask-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
    }
}

static class Tensors
{
    public static bool Same(TorchSharp.torch.Tensor a, TorchSharp.torch.Tensor b) =>
        a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
}
