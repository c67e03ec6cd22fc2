using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace Contramask.Export;

/// <summary>
/// The safetensors format (Hugging Face, https://github.com/huggingface/safetensors, "Format"): an 8-byte
/// little-endian header size N, N bytes of JSON header — per tensor its dtype, shape and [begin, end) byte offsets
/// into the data, plus string metadata under <c>__metadata__</c> — then the tensors' little-endian bytes, row-major.
/// No package for it is served to .NET here; the format is small enough to write directly.
/// </summary>
public static class Safetensors
{
    /// <summary>One tensor as stored: dtype ("F32", "I64"), shape and raw little-endian bytes.</summary>
    public sealed record Entry(string DType, long[] Shape, byte[] Data);

    /// <summary>Bytes per element of the dtypes this project writes.</summary>
    static readonly Dictionary<string, int> ElementSizes = new() { ["F32"] = 4, ["I64"] = 8 };

    /// <summary>A tensor's entry: float32 as F32, int64 as I64, the bytes little-endian row-major.</summary>
    public static Entry EntryOf(Tensor tensor)
    {
        using var scope = NewDisposeScope();
        var t = tensor.detach().cpu().contiguous();
        return t.dtype switch
        {
            ScalarType.Float32 => new Entry("F32", t.shape, MemoryMarshal.AsBytes(t.data<float>().ToArray().AsSpan()).ToArray()),
            ScalarType.Int64 => new Entry("I64", t.shape, MemoryMarshal.AsBytes(t.data<long>().ToArray().AsSpan()).ToArray()),
            var other => throw new NotSupportedException($"safetensors export writes float32 and int64 tensors, not {other}"),
        };
    }

    /// <summary>Serializes named tensors (float32 or int64) with string metadata.</summary>
    public static byte[] Write(IEnumerable<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string> metadata) =>
        Write(tensors.Select(t => (t.Name, EntryOf(t.Tensor))).ToList(), metadata);

    public static byte[] Write(IReadOnlyList<(string Name, Entry Entry)> entries, IReadOnlyDictionary<string, string> metadata)
    {
        var header = new Dictionary<string, object> { ["__metadata__"] = metadata };
        long offset = 0;
        // 8-byte elements first, so every tensor starts aligned to its element size.
        entries = entries.OrderByDescending(e => ElementSizes.GetValueOrDefault(e.Entry.DType, 1)).ToList();
        foreach (var (name, entry) in entries)
        {
            if (header.ContainsKey(name)) throw new ArgumentException($"tensor {name} is named twice");
            header[name] = new { dtype = entry.DType, shape = entry.Shape, data_offsets = new[] { offset, offset + entry.Data.Length } };
            offset += entry.Data.Length;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        // The data starts 8-aligned: the header is padded with spaces (allowed by the format).
        int padded = (json.Length + 7) / 8 * 8;
        var file = new byte[8 + padded + offset];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)padded);
        json.CopyTo(file, 8);
        file.AsSpan(8 + json.Length, padded - json.Length).Fill((byte)' ');
        long at = 8 + padded;
        foreach (var (_, entry) in entries)
        {
            entry.Data.CopyTo(file, at);
            at += entry.Data.Length;
        }
        return file;
    }

    /// <summary>Reads a safetensors file back: tensors by name, and the metadata.</summary>
    public static (Dictionary<string, Entry> Tensors, Dictionary<string, string> Metadata) Read(byte[] file, string source)
    {
        if (file.Length < 8) throw new Data.DataFormatException(source, "too short for a safetensors file");
        ulong size = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (size > (ulong)(file.Length - 8)) throw new Data.DataFormatException(source, $"header of {size} bytes runs past the end of the file");
        JsonDocument header;
        try { header = JsonDocument.Parse(file.AsMemory(8, (int)size)); }
        catch (JsonException e) { throw new Data.DataFormatException(source, $"the header is not JSON: {e.Message}"); }
        using var _ = header;
        var tensors = new Dictionary<string, Entry>();
        var metadata = new Dictionary<string, string>();
        long dataStart = 8 + (long)size;
        foreach (var property in header.RootElement.EnumerateObject())
        {
            if (property.Name == "__metadata__")
            {
                foreach (var m in property.Value.EnumerateObject()) metadata[m.Name] = m.Value.GetString() ?? "";
                continue;
            }
            long[] offsets, shape;
            string dtype;
            try
            {
                offsets = property.Value.GetProperty("data_offsets").EnumerateArray().Select(o => o.GetInt64()).ToArray();
                shape = property.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
                dtype = property.Value.GetProperty("dtype").GetString() ?? "";
            }
            catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new Data.DataFormatException(source, $"tensor {property.Name}: expected dtype, shape and data_offsets ({e.Message})");
            }
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || dataStart + offsets[1] > file.Length)
                throw new Data.DataFormatException(source, $"tensor {property.Name}: offsets {string.Join("..", offsets)} lie outside the data");
            if (!ElementSizes.TryGetValue(dtype, out int elementSize))
                throw new Data.DataFormatException(source, $"tensor {property.Name}: dtype {dtype} is not one Contramask reads (F32, I64)");
            long elements = shape.Aggregate(1L, (a, b) => a * b);
            if (elements * elementSize != offsets[1] - offsets[0])
                throw new Data.DataFormatException(source, $"tensor {property.Name}: {offsets[1] - offsets[0]} bytes for shape [{string.Join(", ", shape)}] of {dtype}");
            tensors[property.Name] = new Entry(dtype, shape, file.AsSpan((int)(dataStart + offsets[0]), (int)(offsets[1] - offsets[0])).ToArray());
        }
        return (tensors, metadata);
    }
}
