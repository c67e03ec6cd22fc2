using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Contramask.Models;

/// <summary>
/// The source article's small ConvNet, done right: 3×3 convolutions with batch norm and ReLU at 32, 64 and 128
/// channels, 2×2 max pooling after the first two, and global average pooling instead of a flatten into a
/// fixed-size linear layer, so any input size works and the embedding is 128 wide. On 28×28 inputs it costs
/// 7.4 M multiply-adds per image (two convolutions per stage would triple that for little gain).
/// </summary>
public sealed class ConvNet : ConvEncoder, IMixedPrecisionModule
{
    readonly Sequential layers;

    public ConvNet(int channels, int width = 32) : base("convnet")
    {
        Width = width;
        layers = nn.Sequential(
            ConvBlock(channels, width), nn.MaxPool2d(2),
            ConvBlock(width, 2 * width), nn.MaxPool2d(2),
            ConvBlock(2 * width, 4 * width));
        RegisterComponents();
    }

    public int Width { get; }
    public override int EmbeddingSize => 4 * Width;

    static Sequential ConvBlock(int input, int output) => nn.Sequential(
        nn.Conv2d(input, output, 3, padding: 1, bias: false), new BatchNorm(output), nn.ReLU(inplace: true));

    public ScalarType? ComputeType { get; set; }

    public override Tensor FeatureMap(Tensor images) => Run(images, keepStages: false)[0];

    public override IReadOnlyList<Tensor> StageMaps(Tensor images) => Run(images, keepStages: true);

    public override IReadOnlyList<int> StageWidths => [Width, 2 * Width, 4 * Width];

    /// <summary>The output of each conv block (before its pooling), or of the last only.</summary>
    List<Tensor> Run(Tensor images, bool keepStages)
    {
        // Intermediate outputs are released when this returns (autograd keeps what backward needs), so backward
        // frees each activation once used, as Python's reference counting would, instead of at the end of the step
        // (docs/PERFORMANCE.md, Memory).
        using var scope = NewDisposeScope();
        var type = ComputeType;
        var x = type is ScalarType t ? images.to_type(t) : images;
        var stages = new List<Tensor>();
        foreach (var layer in layers.children())
        {
            if (layer is Sequential block)
            {
                if (type is ScalarType compute)
                {
                    var parts = block.children().ToArray();
                    x = MixedPrecision.Conv2d((Conv2d)parts[0], x, compute);
                    x = ((BatchNorm)parts[1]).forward(x).relu_();
                }
                else x = block.forward(x);
                if (keepStages) stages.Add(x);
            }
            else x = ((nn.Module<Tensor, Tensor>)layer).forward(x);
        }
        if (!keepStages) stages.Add(x);
        return stages.Select(map => (type is null ? map : map.to_type(ScalarType.Float32)).MoveToOuterDisposeScope()).ToList();
    }
}
