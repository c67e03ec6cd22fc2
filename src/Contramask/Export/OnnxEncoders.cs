using Contramask.Data;
using Contramask.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using BatchNorm = Contramask.Models.BatchNorm;

namespace Contramask.Export;

/// <summary>
/// Writes each Contramask encoder's evaluation-mode forward into an <see cref="OnnxGraph"/>, op for op, from the
/// trained module's structure and weights (its children and state dictionary, the same names a checkpoint uses).
/// Batch norm uses the running statistics, as in evaluation; mixed precision is not exported (float32 throughout).
/// Each method mirrors one model file's forward; the equivalence tests (ONNX Runtime vs TorchSharp within 1e-4)
/// keep them in step.
/// </summary>
public static class OnnxEncoders
{
    /// <summary>The encoder applied to the graph value <paramref name="input"/>; returns the N×D embedding's name.</summary>
    public static string Add(OnnxGraph g, Encoder encoder, string input) => encoder switch
    {
        ConvNet net => ConvNet(g, net, input),
        ResNet18 net => ResNet(g, net, input),
        VisionTransformer vit => VisionTransformer(g, vit, input),
        ResidualMlp mlp => ResidualMlp(g, mlp, input),
        FeatureTokenTransformer ft => FeatureTokenTransformer(g, ft, input),
        _ => throw new NotSupportedException($"ONNX export does not know the encoder {encoder.GetType().Name}"),
    };

    static Dictionary<string, nn.Module> Children(nn.Module module) =>
        module.named_children().ToDictionary(c => c.name, c => c.module);

    static T Child<T>(nn.Module module, string name) where T : nn.Module =>
        Children(module).TryGetValue(name, out var child) && child is T typed ? typed
            : throw new InvalidOperationException($"{module.GetName()} has no {typeof(T).Name} named {name}");

    // ConvNet (Models/ConvNet.cs): [conv 3×3 → batch norm → ReLU, max pool 2] ×2, conv → BN → ReLU, global mean.
    static string ConvNet(OnnxGraph g, ConvNet net, string x)
    {
        foreach (var (name, layer) in net.named_children().Single(c => c.name == "layers").module.named_children())
            x = layer switch
            {
                Sequential block => ConvBlock(g, $"layers.{name}", block, x),
                MaxPool2d => g.Node("MaxPool", [x], ("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 })),
                _ => throw new NotSupportedException($"ConvNet layer {name} ({layer.GetType().Name}) has no ONNX form"),
            };
        return GlobalMean(g, x);
    }

    static string ConvBlock(OnnxGraph g, string prefix, Sequential block, string x)
    {
        var parts = block.children().ToArray();
        x = Conv(g, $"{prefix}.0", (Conv2d)parts[0], x);
        x = BatchNorm(g, $"{prefix}.1", (BatchNorm)parts[1], x);
        return g.Node("Relu", [x]);
    }

    static string Conv(OnnxGraph g, string prefix, Conv2d conv, string x)
    {
        var weight = conv.weight!;
        var inputs = new List<string> { x, g.Weight(prefix + ".weight", weight) };
        if (conv.bias is { } bias) inputs.Add(g.Weight(prefix + ".bias", bias));
        long[] stride = conv.stride, padding = conv.padding ?? [0, 0], dilation = conv.dilation;
        return g.Node("Conv", [.. inputs],
            ("kernel_shape", new[] { weight.shape[2], weight.shape[3] }),
            ("strides", new[] { stride[0], stride[^1] }),
            ("pads", new[] { padding[0], padding[^1], padding[0], padding[^1] }),
            ("dilations", new[] { dilation[0], dilation[^1] }),
            ("group", conv.groups));
    }

    static string BatchNorm(OnnxGraph g, string prefix, BatchNorm norm, string x)
    {
        var state = norm.state_dict();
        return g.Node("BatchNormalization",
            [x, g.Weight(prefix + ".weight", state["weight"]), g.Weight(prefix + ".bias", state["bias"]),
             g.Weight(prefix + ".running_mean", state["running_mean"]), g.Weight(prefix + ".running_var", state["running_var"])],
            ("epsilon", norm.Epsilon));
    }

    /// <summary>N×C×h×w → N×C, the mean over the positions (ImageEncoder's global average pooling).</summary>
    static string GlobalMean(OnnxGraph g, string x) => g.Node("Flatten", [g.Node("GlobalAveragePool", [x])], ("axis", 1L));

    // ResNet-18 (Models/ResNet.cs): stem conv → BN → ReLU, eight basic blocks, global mean.
    static string ResNet(OnnxGraph g, ResNet18 net, string x)
    {
        var children = Children(net);
        x = ConvBlock(g, "stem", (Sequential)children["stem"], x);
        foreach (var (name, block) in children["stages"].named_children())
            x = BasicBlock(g, $"stages.{name}", block, x);
        return GlobalMean(g, x);
    }

    /// <summary>ReLU(BN(conv(ReLU(BN(conv(x))))) + shortcut(x)), the shortcut a strided 1×1 conv + BN where the shape changes.</summary>
    static string BasicBlock(OnnxGraph g, string prefix, nn.Module block, string x)
    {
        var parts = Children(block);
        var y = g.Node("Relu", [BatchNorm(g, prefix + ".bn1", (BatchNorm)parts["bn1"], Conv(g, prefix + ".conv1", (Conv2d)parts["conv1"], x))]);
        y = BatchNorm(g, prefix + ".bn2", (BatchNorm)parts["bn2"], Conv(g, prefix + ".conv2", (Conv2d)parts["conv2"], y));
        var identity = x;
        if (parts.TryGetValue("shortcut", out var shortcut))
        {
            var s = shortcut.children().ToArray();
            identity = BatchNorm(g, prefix + ".shortcut.1", (BatchNorm)s[1], Conv(g, prefix + ".shortcut.0", (Conv2d)s[0], x));
        }
        return g.Node("Relu", [g.Node("Add", [y, identity])]);
    }

    // Vision Transformer (Models/VisionTransformer.cs): patchify → linear + sin-cos positions → blocks → LN → token mean.
    static string VisionTransformer(OnnxGraph g, VisionTransformer vit, string x)
    {
        int p = vit.Patch, c = vit.Channels, gh = vit.GridHeight, gw = vit.GridWidth;
        // Views/Patches.Patchify: N×C×H×W → N×C×gh×p×gw×p → N×gh×gw×p×p×C → N×(gh·gw)×(p·p·C).
        x = g.Node("Reshape", [x, g.Int64s(-1, c, gh, p, gw, p)]);
        x = g.Node("Transpose", [x], ("perm", new long[] { 0, 2, 4, 3, 5, 1 }));
        x = g.Node("Reshape", [x, g.Int64s(-1, gh * gw, p * p * c)]);
        var children = Children(vit);
        var embedding = (Linear)children["patchEmbedding"];
        x = g.Linear(x, "patchEmbedding", embedding.weight!, embedding.bias);
        using (var positions = PositionEmbedding.SinCos2D(vit.Dim, gh, gw))
            x = g.Node("Add", [x, g.Weight("positions", positions)]);
        foreach (var (name, block) in children["blocks"].named_children())
            x = TransformerBlock(g, $"blocks.{name}", (TransformerBlock)block, x);
        var norm = (LayerNorm)children["norm"];
        x = g.LayerNorm(x, "norm", norm.weight!, norm.bias!, norm.eps);
        return g.Node("ReduceMean", [x], ("axes", new long[] { 1 }), ("keepdims", 0L));
    }

    /// <summary>Pre-norm block: x + proj(attention(LN₁(x))), then x + W₂·GELU(W₁·LN₂(x)) (Models/TransformerBlock.cs).</summary>
    static string TransformerBlock(OnnxGraph g, string prefix, TransformerBlock block, string x)
    {
        var parts = Children(block);
        var norm1 = (LayerNorm)parts["norm1"];
        var qkv = (Linear)parts["qkv"];
        long dim = qkv.weight!.shape[1], heads = block.Heads, headDim = dim / heads;
        var h = g.LayerNorm(x, prefix + ".norm1", norm1.weight!, norm1.bias!, norm1.eps);
        h = g.Linear(h, prefix + ".qkv", qkv.weight!, qkv.bias);
        // N×T×3D → N×T×3×heads×d → 3×N×heads×T×d, as the TorchSharp forward reshapes and permutes.
        h = g.Node("Reshape", [h, g.Int64s(0, 0, 3, heads, headDim)]);
        h = g.Node("Transpose", [h], ("perm", new long[] { 2, 0, 3, 1, 4 }));
        var q = g.Node("Gather", [h, g.Int64Scalar(0)], ("axis", 0L));
        var k = g.Node("Gather", [h, g.Int64Scalar(1)], ("axis", 0L));
        var v = g.Node("Gather", [h, g.Int64Scalar(2)], ("axis", 0L));
        // softmax(q·kᵀ/√d)·v (Vaswani et al. 2017), what scaled_dot_product_attention computes.
        var scores = g.Node("Mul", [g.Node("MatMul", [q, g.Node("Transpose", [k], ("perm", new long[] { 0, 1, 3, 2 }))]), g.FloatScalar((float)(1.0 / Math.Sqrt(headDim)))]);
        var attended = g.Node("MatMul", [g.Node("Softmax", [scores], ("axis", -1L)), v]);
        attended = g.Node("Reshape", [g.Node("Transpose", [attended], ("perm", new long[] { 0, 2, 1, 3 })), g.Int64s(0, 0, dim)]);
        var projection = (Linear)parts["projection"];
        x = g.Node("Add", [x, g.Linear(attended, prefix + ".projection", projection.weight!, projection.bias)]);
        var norm2 = (LayerNorm)parts["norm2"];
        var hidden = (Linear)parts["hidden"];
        var output = (Linear)parts["output"];
        var m = g.LayerNorm(x, prefix + ".norm2", norm2.weight!, norm2.bias!, norm2.eps);
        m = g.Linear(g.Gelu(g.Linear(m, prefix + ".hidden", hidden.weight!, hidden.bias)), prefix + ".output", output.weight!, output.bias);
        return g.Node("Add", [x, m]);
    }

    // Tables: the packed N×2F rows (values | missing flags, Data/TableLayout) are split again as the encoders do.

    static string Values(OnnxGraph g, TableLayout layout, string rows) =>
        g.Node("Slice", [rows, g.Int64s(0), g.Int64s(layout.FeatureCount), g.Int64s(1)]);

    static string MissingFlags(OnnxGraph g, TableLayout layout, string rows) =>
        g.Node("Slice", [rows, g.Int64s(layout.FeatureCount), g.Int64s(2 * layout.FeatureCount), g.Int64s(1)]);

    static string Columns(OnnxGraph g, string values, int[] columns) =>
        g.Node("Gather", [values, g.Int64s(columns.Select(c => (long)c).ToArray())], ("axis", 1L));

    /// <summary>One N×d embedding lookup per categorical column (code 0 = unknown), in the layout's order.</summary>
    static List<string> CategoryEmbeddings(OnnxGraph g, TableLayout layout, nn.Module categories, string values)
    {
        var codes = g.Node("Cast", [Columns(g, values, layout.CategoricalColumns)], ("to", (long)Onnx.TensorProto.Types.DataType.Int64));
        var looked = new List<string>();
        foreach (var (name, table) in categories.named_children())
        {
            int c = int.Parse(name, System.Globalization.CultureInfo.InvariantCulture);
            var column = g.Node("Gather", [codes, g.Int64Scalar(c)], ("axis", 1L));
            looked.Add(g.Node("Gather", [g.Weight($"categories.{name}.weight", ((Embedding)table).weight!), column], ("axis", 0L)));
        }
        return looked;
    }

    // Residual MLP (Models/TableEncoder.cs): [numbers | missing flags | category embeddings] → linear → blocks → LN.
    static string ResidualMlp(OnnxGraph g, ResidualMlp mlp, string rows)
    {
        var layout = mlp.Layout;
        var children = Children(mlp);
        var values = Values(g, layout, rows);
        var parts = new List<string>();
        if (layout.NumericColumns.Length > 0) parts.Add(Columns(g, values, layout.NumericColumns));
        parts.Add(MissingFlags(g, layout, rows));
        if (layout.CategoricalColumns.Length > 0) parts.AddRange(CategoryEmbeddings(g, layout, children["categories"], values));
        var input = (Linear)children["input"];
        var x = g.Linear(g.Node("Concat", [.. parts], ("axis", 1L)), "input", input.weight!, input.bias);
        foreach (var (name, block) in children["blocks"].named_children())
        {
            var b = block.children().ToArray();
            var norm = (LayerNorm)b[0];
            var first = (Linear)b[1];
            var second = (Linear)b[3];
            var prefix = $"blocks.{name}";
            var h = g.LayerNorm(x, prefix + ".0", norm.weight!, norm.bias!, norm.eps);
            h = g.Node("Relu", [g.Linear(h, prefix + ".1", first.weight!, first.bias)]);
            x = g.Node("Add", [x, g.Linear(h, prefix + ".3", second.weight!, second.bias)]);
        }
        var final = (LayerNorm)children["norm"];
        return g.LayerNorm(x, "norm", final.weight!, final.bias!, final.eps);
    }

    // FT-Transformer (Models/TableEncoder.cs): one token per column, missing tokens, [CLS] first, blocks, LN of [CLS].
    static string FeatureTokenTransformer(OnnxGraph g, FeatureTokenTransformer ft, string rows)
    {
        var layout = ft.Layout;
        var children = Children(ft);
        var state = ft.state_dict();
        var values = Values(g, layout, rows);
        // Numeric tokens N×Fn×D and categorical N×Fc×D, concatenated, then gathered back into column order.
        var groups = new List<string>();
        if (layout.NumericColumns.Length > 0)
        {
            var numbers = g.Node("Unsqueeze", [Columns(g, values, layout.NumericColumns), g.Int64s(-1)]);
            groups.Add(g.Node("Mul", [numbers, g.Weight("numericWeight", state["numericWeight"])]));
        }
        if (layout.CategoricalColumns.Length > 0)
            groups.Add(g.Node("Concat", [.. CategoryEmbeddings(g, layout, children["categories"], values).Select(e => g.Node("Unsqueeze", [e, g.Int64s(1)]))], ("axis", 1L)));
        var order = layout.NumericColumns.Concat(layout.CategoricalColumns).ToArray();
        var positionOf = new long[layout.FeatureCount];
        for (int i = 0; i < order.Length; i++) positionOf[order[i]] = i;
        var tokens = groups.Count == 1 ? groups[0] : g.Node("Concat", [.. groups], ("axis", 1L));
        tokens = g.Node("Gather", [tokens, g.Int64s(positionOf)], ("axis", 1L));
        tokens = g.Node("Add", [tokens, g.Weight("columnBias", state["columnBias"])]);
        // tokens·(1 − m) + missing·m, m the N×F×1 missing flags.
        var missing = g.Node("Unsqueeze", [MissingFlags(g, layout, rows), g.Int64s(-1)]);
        var kept = g.Node("Mul", [tokens, g.Node("Sub", [g.FloatScalar(1f), missing])]);
        tokens = g.Node("Add", [kept, g.Node("Mul", [g.Weight("missingToken", state["missingToken"]), missing])]);
        // [CLS] expanded to N×1×D: the batch size comes from the input's shape.
        var dim = state["classToken"].shape[^1];
        var shape = g.Node("Concat", [g.Node("Shape", [rows], ("end", 1L)), g.Int64s(1, dim)], ("axis", 0L));
        var cls = g.Node("Expand", [g.Weight("classToken", state["classToken"]), shape]);
        var x = g.Node("Concat", [cls, tokens], ("axis", 1L));
        foreach (var (name, block) in children["blocks"].named_children())
            x = TransformerBlock(g, $"blocks.{name}", (TransformerBlock)block, x);
        var first = g.Node("Gather", [x, g.Int64Scalar(0)], ("axis", 1L));
        var norm = (LayerNorm)children["norm"];
        return g.LayerNorm(first, "norm", norm.weight!, norm.bias!, norm.eps);
    }
}
