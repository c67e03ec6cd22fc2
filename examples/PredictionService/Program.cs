using Contramask.Inference;

var builder = WebApplication.CreateBuilder(args);
using var model = ClassifierModel.Load(builder.Configuration["Model"] ?? "classifier.onnx");
var app = builder.Build();
app.MapPost("/predict", async (IFormFile image) =>
{
    using var bytes = new MemoryStream();
    await image.CopyToAsync(bytes);
    var prediction = model.Predict([bytes.ToArray()])[0];
    return new { prediction.Class, prediction.Confidence };
}).DisableAntiforgery();
app.Run();
