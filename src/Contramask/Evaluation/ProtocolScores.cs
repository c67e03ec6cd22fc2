using System.Text.Json.Serialization;

namespace Contramask.Evaluation;

/// <summary>
/// Every number of the evaluation protocol for one set of embeddings (DESIGN.md §4). Accuracies are fractions
/// of the test split; few-label figures are the mean (and standard deviation) over three stratified draws.
/// </summary>
public sealed record ProtocolScores
{
    public required string Name { get; init; }
    [JsonPropertyName("linear")] public double Linear { get; init; }
    /// <summary>The L2 penalty the full-label probe chose on its validation slice.</summary>
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
    [JsonPropertyName("seconds")] public double Seconds { get; init; }
}
