using Contramask.Data;
using static TorchSharp.torch;

namespace Contramask.Mining;

/// <summary>
/// Row i of an embedding table → the record it was computed from, when the records are at hand (mining a run):
/// the splits in the order exports list them (training, validation, test). Lets mining look past the embedding at
/// the record itself: contact sheets of images, a record-level check of near-duplicates.
/// </summary>
public sealed class RecordLookup
{
    readonly IRecordSet[] parts;
    readonly int[] starts;

    public RecordLookup(IEnumerable<IRecordSet> parts)
    {
        this.parts = parts.ToArray();
        if (this.parts.Length == 0) throw new ArgumentException("no records to look up");
        starts = new int[this.parts.Length];
        for (int p = 1; p < this.parts.Length; p++) starts[p] = starts[p - 1] + this.parts[p - 1].Count;
        Count = starts[^1] + this.parts[^1].Count;
    }

    public int Count { get; }
    public bool AreImages => parts.All(p => p is ImageDataset or ImageFiles);

    public (IRecordSet Part, int Index) Locate(int row)
    {
        if (row < 0 || row >= Count) throw new ArgumentOutOfRangeException(nameof(row), $"row {row} is beyond the {Count} records");
        int p = Array.BinarySearch(starts, row);
        if (p < 0) p = ~p - 1;
        while (p + 1 < parts.Length && starts[p + 1] == row) p++; // skip empty parts
        return (parts[p], row - starts[p]);
    }

    /// <summary>The image behind a row (image data only); an image still on disk is decoded for this.</summary>
    public (ImageDataset Images, int Index) Image(int row)
    {
        var (part, index) = Locate(row);
        return part switch
        {
            ImageDataset images => (images, index),
            ImageFiles files => (files.Decode([index]), 0),
            _ => throw new InvalidOperationException($"row {row} is a table row, not an image"),
        };
    }

    /// <summary>The model inputs of <paramref name="rows"/> (images N×C×H×W in [0, 1], table rows N×2F), in that order.</summary>
    public Tensor Inputs(IReadOnlyList<int> rows)
    {
        var located = rows.Select(Locate).ToArray();
        using var scope = NewDisposeScope();
        var pieces = new List<Tensor>();
        var order = new List<long>();
        foreach (var group in located.Select((l, n) => (l.Part, l.Index, n)).GroupBy(x => x.Part))
        {
            pieces.Add(group.Key.Inputs(group.Select(x => x.Index).ToArray()));
            order.AddRange(group.Select(x => (long)x.n));
        }
        var all = pieces.Count == 1 ? pieces[0] : cat(pieces, 0);
        // Put the rows back in the asked order: all[k] belongs at position order[k].
        var inverse = argsort(tensor(order.ToArray()));
        return all.index_select(0, inverse).MoveToOuterDisposeScope();
    }
}
