using TorchSharp;
using TorchSharp.Modules;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;

namespace Contramask.Models;

/// <summary>
/// ResNet-18 (He et al. 2016) in its CIFAR form, as used by SimCLR's CIFAR experiments and solo-learn: a 3×3
/// stride-1 stem without max pooling, four stages of two basic blocks (64, 128, 256, 512 channels × width), global
/// average pooling. The embedding is 512 × width.
/// </summary>
public sealed class ResNet18 : ConvEncoder, IMixedPrecisionModule
{
    readonly Sequential stem, stages;
    readonly int[] planes;

    public ResNet18(int channels, double width = 1.0) : base("resnet18")
    {
        WidthMultiplier = width;
        int[] planes = [64, 128, 256, 512];
        planes = planes.Select(p => Math.Max(8, (int)Math.Round(p * width))).ToArray();
        this.planes = planes;
        stem = nn.Sequential(nn.Conv2d(channels, planes[0], 3, padding: 1, bias: false), new BatchNorm(planes[0]), nn.ReLU(inplace: true));
        var blocks = new List<nn.Module<Tensor, Tensor>>();
        int input = planes[0];
        for (int s = 0; s < 4; s++)
        {
            blocks.Add(new BasicBlock(input, planes[s], s == 0 ? 1 : 2));
            blocks.Add(new BasicBlock(planes[s], planes[s], 1));
            input = planes[s];
        }
        stages = nn.Sequential(blocks);
        EmbeddingSize = planes[3];
        RegisterComponents();
    }

    public double WidthMultiplier { get; }
    public override int EmbeddingSize { get; }

    public ScalarType? ComputeType { get; set; }

    public override Tensor FeatureMap(Tensor images) => Run(images, keepStages: false)[0];

    public override IReadOnlyList<Tensor> StageMaps(Tensor images) => Run(images, keepStages: true);

    public override IReadOnlyList<int> StageWidths => planes;

    /// <summary>The output of each of the four stages (two basic blocks each), or of the last only.</summary>
    List<Tensor> Run(Tensor images, bool keepStages)
    {
        using var scope = NewDisposeScope();
        var type = ComputeType;
        Tensor x;
        if (type is ScalarType compute)
        {
            var parts = stem.children().ToArray();
            x = ((BatchNorm)parts[1]).forward(MixedPrecision.Conv2d((Conv2d)parts[0], images, compute)).relu_();
        }
        else x = stem.forward(images);
        var maps = new List<Tensor>();
        var blocks = stages.children().Cast<nn.Module<Tensor, Tensor>>().ToArray();
        for (int b = 0; b < blocks.Length; b++)
        {
            x = blocks[b].forward(x);
            if (keepStages && b % 2 == 1) maps.Add(x);
        }
        if (!keepStages) maps.Add(x);
        return maps.Select(map => (type is null ? map : map.to_type(ScalarType.Float32)).MoveToOuterDisposeScope()).ToList();
    }

    sealed class BasicBlock : nn.Module<Tensor, Tensor>, IMixedPrecisionModule
    {
        readonly Conv2d conv1, conv2;
        readonly BatchNorm bn1, bn2;
        readonly Sequential? shortcut;

        public BasicBlock(int input, int output, int stride) : base("basic_block")
        {
            conv1 = nn.Conv2d(input, output, 3, stride: stride, padding: 1, bias: false);
            bn1 = new BatchNorm(output);
            conv2 = nn.Conv2d(output, output, 3, padding: 1, bias: false);
            bn2 = new BatchNorm(output);
            if (stride != 1 || input != output)
                shortcut = nn.Sequential(nn.Conv2d(input, output, 1, stride: stride, bias: false), new BatchNorm(output));
            RegisterComponents();
        }

        public ScalarType? ComputeType { get; set; }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var type = ComputeType;
            var y = nn.functional.relu(bn1.forward(MixedPrecision.Conv2d(conv1, x, type)), inplace: true);
            y = bn2.forward(MixedPrecision.Conv2d(conv2, y, type));
            var identity = shortcut is null ? x
                : ((BatchNorm)shortcut[1]).forward(MixedPrecision.Conv2d((Conv2d)shortcut[0], x, type));
            y = y.add(identity, One);
            return nn.functional.relu(y, inplace: true).MoveToOuterDisposeScope();
        }
    }
}
