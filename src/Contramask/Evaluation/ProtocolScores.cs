using System.Text.Json.Serialization;

namespace Contramask.Evaluation;

/// <summary>
/// Every number of the evaluation protocol for one set of embeddings on one split (<see cref="Split"/>: "val" or
/// "test"; docs/EVALUATION.md). Accuracies are fractions of that split; few-label figures are the mean (and
/// standard deviation) over three stratified draws. <see cref="Probes"/> adds, per probe, balanced accuracy,
/// macro-F1 and (two classes) ROC-AUC.
/// </summary>
public sealed record ProtocolScores
{
    public required string Name { get; init; }
    /// <summary>Which split the figures come from: "val" (the validation slice of the training data) or "test".</summary>
    [JsonPropertyName("split")] public string Split { get; init; } = "test";
    [JsonPropertyName("linear")] public double Linear { get; init; }
    /// <summary>The L2 penalty the full-label probe chose on its training rows (cross-validated, or on a 10% slice of 10,000+ rows).</summary>
    [JsonPropertyName("linear_l2")] public double LinearL2 { get; init; }
    [JsonPropertyName("knn20")] public double Knn20 { get; init; }
    [JsonPropertyName("knn200")] public double Knn200 { get; init; }
    [JsonPropertyName("linear_1pct")] public double Linear1Pct { get; init; }
    [JsonPropertyName("linear_1pct_std")] public double Linear1PctStd { get; init; }
    [JsonPropertyName("linear_10pct")] public double Linear10Pct { get; init; }
    [JsonPropertyName("linear_10pct_std")] public double Linear10PctStd { get; init; }
    [JsonPropertyName("knn20_1pct")] public double Knn20_1Pct { get; init; }
    [JsonPropertyName("knn20_1pct_std")] public double Knn20_1PctStd { get; init; }
    [JsonPropertyName("knn20_10pct")] public double Knn20_10Pct { get; init; }
    [JsonPropertyName("knn20_10pct_std")] public double Knn20_10PctStd { get; init; }
    [JsonPropertyName("nmi")] public double Nmi { get; init; }
    [JsonPropertyName("ari")] public double Ari { get; init; }
    [JsonPropertyName("alignment")] public double? Alignment { get; init; }
    [JsonPropertyName("uniformity")] public double Uniformity { get; init; }
    [JsonPropertyName("effective_rank")] public double EffectiveRank { get; init; }
    [JsonPropertyName("dimensions")] public int Dimensions { get; init; }
    [JsonPropertyName("classes")] public int Classes { get; init; }
    /// <summary>Share of the split's most common class: what always answering that class scores.</summary>
    [JsonPropertyName("majority_rate")] public double MajorityRate { get; init; }
    /// <summary>Per probe (linear, knn20, knn200, linear_1pct, …): accuracy, balanced accuracy, macro-F1, ROC-AUC.</summary>
    [JsonPropertyName("probes")] public IReadOnlyDictionary<string, ClassificationScores> Probes { get; init; } = new Dictionary<string, ClassificationScores>();
    [JsonPropertyName("seconds")] public double Seconds { get; init; }

    /// <summary>
    /// Whether the split's classes are imbalanced enough that accuracy alone misleads: the largest class is more
    /// than <see cref="ImbalanceFactor"/> times the share an even split would give it (a 72/28 two-class table: yes;
    /// MNIST's largest digit, 11.4% of ten: no).
    /// </summary>
    [JsonIgnore] public bool Imbalanced => IsImbalanced(MajorityRate, Classes);

    public const double ImbalanceFactor = 1.2;

    public static bool IsImbalanced(double majorityRate, int classes) => classes > 1 && majorityRate > ImbalanceFactor / classes;
}
