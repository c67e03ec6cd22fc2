using System.Runtime.InteropServices;
using Cloud.Unum.USearch;

namespace Contramask.Mining;

/// <summary>
/// An HNSW index of USearch (Cloud.Unum.USearch's native library) through its C API, because the package's managed
/// wrapper cannot reserve capacity up front: with capacity reserved, USearch accepts additions and searches from
/// several threads at once (each takes one of its thread contexts), and vectors are passed straight from one pinned
/// array instead of one managed array per record. Cosine metric, float32.
/// </summary>
internal sealed unsafe class HnswGraph : IDisposable
{
    const string Library = "libusearch_c";
    [DllImport(Library)] static extern IntPtr usearch_init(ref IndexOptions options, out IntPtr error);
    [DllImport(Library)] static extern void usearch_free(IntPtr index, out IntPtr error);
    [DllImport(Library)] static extern void usearch_reserve(IntPtr index, UIntPtr capacity, out IntPtr error);
    [DllImport(Library)] static extern void usearch_add(IntPtr index, ulong key, float* vector, ScalarKind kind, out IntPtr error);
    [DllImport(Library)] static extern void usearch_change_expansion_search(IntPtr index, UIntPtr expansion, out IntPtr error);
    [DllImport(Library)] static extern UIntPtr usearch_search(IntPtr index, float* query, ScalarKind kind, UIntPtr count, ulong* keys, float* distances, out IntPtr error);

    IntPtr index;

    public HnswGraph(int dimensions, int capacity, int connectivity, int expansionAdd, int expansionSearch)
    {
        var options = new IndexOptions
        {
            metric_kind = MetricKind.Cos, quantization = ScalarKind.Float32, dimensions = (ulong)dimensions,
            connectivity = (ulong)connectivity, expansion_add = (ulong)expansionAdd, expansion_search = (ulong)expansionSearch, multi = false,
        };
        index = usearch_init(ref options, out var error);
        Check(error);
        usearch_reserve(index, (UIntPtr)capacity, out error);
        Check(error);
    }

    /// <summary>Adds rows [start, start + count) of the row-major <paramref name="vectors"/> under their row numbers, on <paramref name="threads"/> threads.</summary>
    public void Add(float[] vectors, int dimensions, long start, long count, int threads)
    {
        fixed (float* data = vectors)
        {
            var pointer = (IntPtr)data;
            Parallel.For(start, start + count, new ParallelOptions { MaxDegreeOfParallelism = threads }, row =>
            {
                usearch_add(index, (ulong)row, (float*)pointer + row * dimensions, ScalarKind.Float32, out var error);
                Check(error);
            });
        }
    }

    /// <summary>The nearest <paramref name="count"/> of row <paramref name="row"/>: their keys and cosine distances, nearest first.</summary>
    public int Search(float[] vectors, int dimensions, long row, int count, ulong[] keys, float[] distances)
    {
        fixed (float* data = vectors)
        fixed (ulong* k = keys)
        fixed (float* d = distances)
        {
            var found = usearch_search(index, data + row * dimensions, ScalarKind.Float32, (UIntPtr)count, k, d, out var error);
            Check(error);
            return (int)found;
        }
    }

    /// <summary>Candidates kept while searching (ef): higher finds more of the true neighbours, slower.</summary>
    public void SetExpansionSearch(int expansion)
    {
        usearch_change_expansion_search(index, (UIntPtr)expansion, out var error);
        Check(error);
    }

    static void Check(IntPtr error)
    {
        if (error != IntPtr.Zero) throw new InvalidOperationException("USearch: " + Marshal.PtrToStringAnsi(error));
    }

    public void Dispose()
    {
        if (index == IntPtr.Zero) return;
        usearch_free(index, out _);
        index = IntPtr.Zero;
    }
}
