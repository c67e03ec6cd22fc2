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

    /// <summary>Serializes named tensors (float32 stays F32, int64 I64; other float types are written as F32) with metadata.</summary>
    public static byte[] Write(IEnumerable<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var entries = new List<(string Name, Entry Entry)>();
        foreach (var (name, tensor) in tensors)
        {
            using var scope = NewDisposeScope();
            var t = tensor.detach().cpu().contiguous();
            entries.Add((name, t.dtype switch
            {
                ScalarType.Int64 => new Entry("I64", t.shape, MemoryMarshal.AsBytes(t.data<long>().ToArray().AsSpan()).ToArray()),
                _ => new Entry("F32", t.shape, MemoryMarshal.AsBytes(t.to(ScalarType.Float32).data<float>().ToArray().AsSpan()).ToArray()),
            }));
        }
        return Write(entries, metadata);
    }

    public static byte[] Write(IReadOnlyList<(string Name, Entry Entry)> entries, IReadOnlyDictionary<string, string> metadata)
    {
        var header = new Dictionary<string, object> { ["__metadata__"] = metadata };
        long offset = 0;
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
        using var header = JsonDocument.Parse(file.AsMemory(8, (int)size));
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
            var offsets = property.Value.GetProperty("data_offsets").EnumerateArray().Select(o => o.GetInt64()).ToArray();
            if (offsets[0] < 0 || offsets[1] < offsets[0] || dataStart + offsets[1] > file.Length)
                throw new Data.DataFormatException(source, $"tensor {property.Name}: offsets {offsets[0]}..{offsets[1]} lie outside the data");
            tensors[property.Name] = new Entry(property.Value.GetProperty("dtype").GetString()!,
                property.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray(),
                file.AsSpan((int)(dataStart + offsets[0]), (int)(offsets[1] - offsets[0])).ToArray());
        }
        return (tensors, metadata);
    }
}
