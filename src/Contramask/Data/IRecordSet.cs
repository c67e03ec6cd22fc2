using static TorchSharp.torch;

namespace Contramask.Data;

/// <summary>
/// What every dataset shares, images or table rows: a count, optional integer labels with class names, and a
/// record id per record. The training loop and the evaluation protocol need no more than this.
/// </summary>
public interface IRecordSet
{
    int Count { get; }
    int[]? Labels { get; }
    IReadOnlyList<string>? ClassNames { get; }
    string Source { get; }
    string RecordId(int index);

    /// <summary>The records at <paramref name="indices"/> as float model inputs: images N×C×H×W in [0, 1], table rows N×2F packed.</summary>
    Tensor Inputs(ReadOnlySpan<int> indices);

    bool HasLabels => Labels is not null;
    int ClassCount => ClassNames?.Count ?? (Labels is { Length: > 0 } l ? l.Max() + 1 : 0);

    /// <summary>Labels at <paramref name="indices"/> as int64; throws if the dataset has none.</summary>
    Tensor LabelBatch(ReadOnlySpan<int> indices) => RecordSets.LabelBatch(this, indices);
}

/// <summary>Helpers shared by the record sets (kept outside the interface so implementations can call them without recursion).</summary>
public static class RecordSets
{
    public static Tensor LabelBatch(IRecordSet records, ReadOnlySpan<int> indices)
    {
        var labels = records.Labels ?? throw new InvalidOperationException($"{records.Source} has no labels");
        var result = new long[indices.Length];
        for (int i = 0; i < indices.Length; i++) result[i] = labels[indices[i]];
        return tensor(result);
    }
}

/// <summary>
/// A training split (pretraining sees it without labels), an optional validation slice carved from it (for every
/// choice; see <see cref="ValidationSplit"/>) and an optional test split (read only to publish), of any kind of data.
/// </summary>
public interface ISplits
{
    IRecordSet Train { get; }
    IRecordSet? Test { get; }
    IRecordSet? Validation { get; }

    /// <summary>Every split that exists, in the order exports list them: training, validation, test.</summary>
    IEnumerable<IRecordSet> All => new[] { Train, Validation, Test }.OfType<IRecordSet>();
}

/// <summary>Splits of any kind of records put together by hand, e.g. one record set to embed on its own.</summary>
public sealed record RecordSplits(IRecordSet Train, IRecordSet? Validation = null, IRecordSet? Test = null) : ISplits;
