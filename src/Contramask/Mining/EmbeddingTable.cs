namespace Contramask.Mining;

/// <summary>
/// Embeddings in memory: one row per record with its id, its label (−1 when unknown) and a D-dimensional vector
/// (row-major N×D floats). What <c>contramask mine</c> works on, and what an embeddings file holds.
/// </summary>
public sealed class EmbeddingTable
{
    public EmbeddingTable(string[] ids, int[] labels, float[] vectors, int dimensions, IReadOnlyList<string>? classNames = null)
    {
        if (labels.Length != ids.Length || vectors.LongLength != (long)ids.Length * dimensions)
            throw new ArgumentException($"{ids.Length} ids, {labels.Length} labels and {vectors.LongLength} values do not make {ids.Length}×{dimensions}");
        Ids = ids; Labels = labels; Vectors = vectors; Dimensions = dimensions; ClassNames = classNames;
    }

    public string[] Ids { get; }
    /// <summary>Class index per record, −1 when the record has no label.</summary>
    public int[] Labels { get; }
    public float[] Vectors { get; }
    public int Dimensions { get; }
    public IReadOnlyList<string>? ClassNames { get; }
    public int Count => Ids.Length;
    public bool HasLabels => Labels.Length > 0 && Labels.All(l => l >= 0);

    public string LabelName(int index) => Labels[index] < 0 ? "" : ClassName(Labels[index]);

    /// <summary>The name of class index <paramref name="label"/> (its number when the table has no name for it).</summary>
    public string ClassName(int label) => ClassNames is { } names && label < names.Count ? names[label] : label.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public TorchSharp.torch.Tensor ToTensor() => TorchSharp.torch.tensor(Vectors, new long[] { Count, Dimensions });
}
