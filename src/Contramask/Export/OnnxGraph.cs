using System.Runtime.InteropServices;
using Contramask.Export.Onnx;
using Google.Protobuf;
using static TorchSharp.torch;

namespace Contramask.Export;

/// <summary>
/// Builds one ONNX graph node by node: float32 initializers from trained tensors, int64 constants for shapes and
/// indices, nodes with attributes, inputs and outputs with a dynamic batch dimension. Targets ONNX IR version 8 and
/// opset 17 (the newest pair Debian 12's <c>python3-onnx</c> 1.12 checks; ONNX Runtime reads later ones too).
/// </summary>
public sealed class OnnxGraph
{
    public const long IrVersion = 8;
    public const long Opset = 17;
    /// <summary>The symbolic name of the batch dimension of every input and output.</summary>
    public const string BatchDimension = "batch";

    readonly GraphProto graph;
    readonly Dictionary<string, int> opCounts = [];
    readonly Dictionary<string, string> constants = [];

    public OnnxGraph(string name) => graph = new GraphProto { Name = name };

    /// <summary>A float32 input whose first dimension is the batch: <paramref name="dims"/> are the others.</summary>
    public string Input(string name, params long[] dims)
    {
        graph.Input.Add(ValueInfo(name, dims));
        return name;
    }

    /// <summary>Declares <paramref name="value"/> a graph output under <paramref name="name"/> (batch first, then <paramref name="dims"/>).</summary>
    public void Output(string value, string name, params long[] dims)
    {
        if (value != name) Node("Identity", [value], output: name);
        graph.Output.Add(ValueInfo(name, dims));
    }

    static ValueInfoProto ValueInfo(string name, long[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = BatchDimension });
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    /// <summary>A float32 initializer holding a copy of <paramref name="tensor"/> (any device and float type).</summary>
    public string Weight(string name, Tensor tensor)
    {
        using var scope = NewDisposeScope();
        var values = tensor.detach().to(ScalarType.Float32).cpu().contiguous();
        return Weight(name, values.data<float>().ToArray(), values.shape);
    }

    public string Weight(string name, float[] values, params long[] dims)
    {
        if (graph.Initializer.Any(i => i.Name == name)) throw new ArgumentException($"initializer {name} is added twice");
        var proto = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        proto.Dims.AddRange(dims);
        // raw_data holds little-endian IEEE floats (onnx.proto, TensorProto.raw_data); .NET on x64/arm64 is little-endian.
        proto.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        graph.Initializer.Add(proto);
        return name;
    }

    /// <summary>An int64 constant (shapes, axes, indices), shared by every node that asks for the same values.</summary>
    public string Int64s(params long[] values) => Int64Constant(values, [values.Length]);

    /// <summary>A 0-dimensional int64 constant (an index that removes the axis it gathers on).</summary>
    public string Int64Scalar(long value) => Int64Constant([value], []);

    string Int64Constant(long[] values, long[] dims)
    {
        var key = $"i64[{string.Join(",", dims)}]:{string.Join(",", values)}";
        if (constants.TryGetValue(key, out var existing)) return existing;
        var name = $"const_{constants.Count}";
        var proto = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        proto.Dims.AddRange(dims);
        proto.Int64Data.AddRange(values);
        graph.Initializer.Add(proto);
        constants[key] = name;
        return name;
    }

    /// <summary>A 0-dimensional float32 constant (a scale, 1, ½…), shared like <see cref="Int64s"/>.</summary>
    public string FloatScalar(float value)
    {
        var key = $"f32:{BitConverter.SingleToInt32Bits(value)}";
        if (constants.TryGetValue(key, out var existing)) return existing;
        var name = $"const_{constants.Count}";
        var proto = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        proto.FloatData.Add(value);
        graph.Initializer.Add(proto);
        constants[key] = name;
        return name;
    }

    /// <summary>
    /// Adds a node of operator <paramref name="op"/> (ONNX's default domain) and returns its output's name.
    /// Attribute values: long, int, float, double, string, long[] or float[].
    /// </summary>
    public string Node(string op, string[] inputs, string? output = null, params (string Name, object Value)[] attributes)
    {
        int count = opCounts.GetValueOrDefault(op);
        opCounts[op] = count + 1;
        output ??= $"{op}_{count}";
        var node = new NodeProto { OpType = op, Name = $"{op}_{count}" };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        foreach (var (name, value) in attributes) node.Attribute.Add(Attribute(name, value));
        graph.Node.Add(node);
        return output;
    }

    /// <summary>As <see cref="Node(string, string[], string?, (string, object)[])"/> without an output name.</summary>
    public string Node(string op, string[] inputs, params (string Name, object Value)[] attributes) => Node(op, inputs, null, attributes);

    static AttributeProto Attribute(string name, object value)
    {
        var attribute = new AttributeProto { Name = name };
        switch (value)
        {
            case long i: attribute.Type = AttributeProto.Types.AttributeType.Int; attribute.I = i; break;
            case int i: attribute.Type = AttributeProto.Types.AttributeType.Int; attribute.I = i; break;
            case float f: attribute.Type = AttributeProto.Types.AttributeType.Float; attribute.F = f; break;
            case double f: attribute.Type = AttributeProto.Types.AttributeType.Float; attribute.F = (float)f; break;
            case string s: attribute.Type = AttributeProto.Types.AttributeType.String; attribute.S = ByteString.CopyFromUtf8(s); break;
            case long[] ints: attribute.Type = AttributeProto.Types.AttributeType.Ints; attribute.Ints.AddRange(ints); break;
            case float[] floats: attribute.Type = AttributeProto.Types.AttributeType.Floats; attribute.Floats.AddRange(floats); break;
            default: throw new ArgumentException($"attribute {name}: unsupported value type {value.GetType().Name}");
        }
        return attribute;
    }

    // Building blocks shared by the encoders.

    /// <summary>x·Wᵀ + b for a torch Linear weight (out×in) over the last axis of x (any rank).</summary>
    public string Linear(string x, string prefix, Tensor weight, Tensor? bias)
    {
        string transposed;
        using (var scope = NewDisposeScope()) transposed = Weight(prefix + ".weight_t", weight.detach().t());
        var y = Node("MatMul", [x, transposed]);
        return bias is null ? y : Node("Add", [y, Weight(prefix + ".bias", bias)]);
    }

    /// <summary>LayerNormalization over the last axis (opset 17).</summary>
    public string LayerNorm(string x, string prefix, Tensor weight, Tensor bias, double epsilon) =>
        Node("LayerNormalization", [x, Weight(prefix + ".weight", weight), Weight(prefix + ".bias", bias)], ("axis", -1L), ("epsilon", (float)epsilon));

    /// <summary>GELU, exact (erf) form as torch's default: ½·x·(1 + erf(x/√2)). Opset 17 has no Gelu operator.</summary>
    public string Gelu(string x)
    {
        var erf = Node("Erf", [Node("Div", [x, FloatScalar((float)Math.Sqrt(2.0))])]);
        return Node("Mul", [Node("Mul", [x, Node("Add", [erf, FloatScalar(1f)])]), FloatScalar(0.5f)]);
    }

    /// <summary>The model: this graph, opset 17, the producer and string metadata.</summary>
    public ModelProto Model(string docString, IReadOnlyDictionary<string, string> metadata)
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "Contramask",
            ProducerVersion = typeof(OnnxGraph).Assembly.GetName().Version?.ToString() ?? "",
            DocString = docString,
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        foreach (var (key, value) in metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return model;
    }
}
