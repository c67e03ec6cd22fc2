using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Contramask.Export;
using Contramask.Inference;

namespace Contramask.Tests;

/// <summary>
/// The README's ASP.NET example (examples/PredictionService, built with the tests) started as a real service on a
/// free port, serving a classifier exported from a real run: an uploaded image gets the library's prediction.
/// </summary>
public class PredictionServiceTests(ExportRunFixture run) : IClassFixture<ExportRunFixture>
{
    static string RepositoryRoot()
    {
        var folder = new DirectoryInfo(AppContext.BaseDirectory);
        while (folder is not null && !File.Exists(Path.Combine(folder.FullName, "Contramask.sln"))) folder = folder.Parent;
        return folder?.FullName ?? throw new InvalidOperationException("the tests run outside the repository");
    }

    [Fact]
    public async Task The_readme_service_answers_an_uploaded_image_with_the_models_class_and_confidence()
    {
        var folder = Fixture.TempFolder();
        var modelPath = Path.Combine(folder, "classifier.onnx");
        ModelExport.Classifier(run.ClassifierFolder, null, modelPath);
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name; // bin/<Debug|Release>/net10.0/
        var service = Path.Combine(RepositoryRoot(), "examples", "PredictionService", "bin", configuration, "net10.0", "PredictionService.dll");
        Assert.True(File.Exists(service), $"{service} was not built");

        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = folder };
        foreach (var a in new[] { service, "--urls", "http://127.0.0.1:0", "--Model", modelPath }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        try
        {
            // ASP.NET logs the address it bound: "Now listening on: http://127.0.0.1:PORT".
            string? address = null;
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (address is null && DateTime.UtcNow < deadline)
            {
                var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
                if (line is null) break;
                if (line.Contains("Now listening on: ", StringComparison.Ordinal)) address = line[(line.IndexOf("http", StringComparison.Ordinal))..].Trim();
            }
            if (address is null)
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail("the service did not start: " + await process.StandardError.ReadToEndAsync());
            }

            var image = Path.Combine(RepositoryRoot(), "tests", "Contramask.Tests", "Fixtures", "flat", "image0.png");
            using var expected = ClassifierModel.Load(modelPath);
            // A 28×28 fixture image: the service resizes it to the model's 8×8 as training would.
            var prediction = expected.Predict([image])[0];

            using var http = new HttpClient { BaseAddress = new Uri(address!), Timeout = TimeSpan.FromSeconds(60) };
            using var form = new MultipartFormDataContent { { new ByteArrayContent(File.ReadAllBytes(image)), "image", "image0.png" } };
            using var response = await http.PostAsync("/predict", form);
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            var answer = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(prediction.Class, answer.GetProperty("class").GetString());
            Assert.Equal(prediction.Confidence, answer.GetProperty("confidence").GetSingle(), 5);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public void The_readme_shows_the_service_program_as_it_is()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        var program = File.ReadAllText(Path.Combine(RepositoryRoot(), "examples", "PredictionService", "Program.cs")).Trim();
        Assert.Contains(program, readme);
        Assert.True(program.Split('\n').Length <= 13, "the example stays about ten lines");
    }
}
