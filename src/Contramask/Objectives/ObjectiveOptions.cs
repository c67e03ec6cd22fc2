using Contramask.Runtime;

namespace Contramask.Objectives;

/// <summary>
/// The objectives Contramask trains. <see cref="Supervised"/> is not self-supervised: it is the ceiling baseline
/// (the same encoder trained with all labels for the same budget).
/// </summary>
public enum Method { Contrastive, Masked, Fusion, Supervised }

/// <summary>
/// How <see cref="Method.Fusion"/> joins its two terms (on images; the table kinds are named at the end). <see cref="Can"/>: CAN (Mishra et al. 2022), one
/// encoder for both views, NT-Xent between them (with <see cref="ObjectiveOptions.MaskedViews"/> = 1 the second view
/// stays clean). <see cref="Momentum"/>: the masked view's online features predict a momentum target's features of
/// the clean other view, one-way InfoNCE as in CMAE (Huang et al. 2022); see <see cref="MomentumFusionObjective"/>
/// (on tables: a VIME-corrupted row's features predict the target's features of the clean row,
/// <see cref="TableMomentumFusionObjective"/>).
/// <see cref="Layered"/>: as <see cref="Can"/>, but the pixel decoder reads a CNN's next-to-last stage or a ViT's middle
/// block, so reconstruction shapes the lower layers and only the contrastive term the upper ones. Layer-Grafted Pre-training
/// (Jiang et al. 2023) found the two losses' gradients conflict more the deeper the layer, and masked modeling suited
/// to the lower layers, contrast to the upper; it trains them in sequence, this variant at once.
/// On tables <see cref="Layered"/> has VIME's estimators read the residual MLP's state below its last block.
/// <see cref="Subsets"/> (tables only): SubTab-style views, one per overlapping column subset, each reconstructing the
/// whole row and pulled together by NT-Xent and a distance term (see <see cref="TableSubsetFusionObjective"/>).
/// </summary>
public enum FusionKind { Can, Momentum, Layered, Subsets }

/// <summary>
/// Settings of the objective; defaults follow the papers scaled to small data (see each field). Method-dependent
/// defaults (mask ratio) come from <see cref="ForMethod"/>.
/// </summary>
public sealed record ObjectiveOptions
{
    public Method Method { get; init; } = Method.Fusion;
    /// <summary>InfoNCE temperature τ (SimCLR: 0.1–0.5; CAN: 0.1); <see cref="ForMethod"/> gives images <see cref="ImageTemperature"/>.</summary>
    public double Temperature { get; init; } = DefaultTemperature;

    /// <summary>The temperature of tables and of the named image fusion variants <c>can</c> and <c>momentum</c>: 0.2.</summary>
    public const double DefaultTemperature = 0.2;
    /// <summary>Fraction of patches hidden (MAE 0.75, CAN 0.5, SimMIM 0.6; layered fusion 0.25).</summary>
    public double MaskRatio { get; init; } = 0.5;
    public double WeightContrastive { get; init; } = 1.0;
    public double WeightReconstruction { get; init; } = 1.0;
    /// <summary>
    /// Fusion: the reconstruction weight falls from <see cref="WeightReconstruction"/> to 0 on a half cosine over the
    /// run, so masked modeling shapes the start and contrast alone the end. Layer-Grafted Pre-training (Jiang et al.
    /// 2023) trains masked modeling first and contrast after; this blends the two in one run.
    /// </summary>
    public bool AnnealReconstruction { get; init; }

    /// <summary>The reconstruction weight at a point of the run (0 = start, 1 = end): w_rec·(1 + cos π·p)/2 when annealed.</summary>
    public double ReconstructionWeightAt(double progress) =>
        AnnealReconstruction ? CosineSchedule.At(progress, WeightReconstruction, 0) : WeightReconstruction;
    /// <summary>Share of the denoising term inside the reconstruction weight (CAN: 0.3); 0 turns it off.</summary>
    public double WeightNoise { get; init; } = 0.0;
    /// <summary>Largest noise standard deviation (in standardized pixel units) for the denoising term.</summary>
    public double NoiseStdMax { get; init; } = 0.2;
    public int ProjectionHidden { get; init; } = 512;
    public int ProjectionOutput { get; init; } = 128;
    public int DecoderDim { get; init; } = 128;
    public int DecoderDepth { get; init; } = 2;
    public int DecoderHeads { get; init; } = 4;
    public bool NormalizeTargets { get; init; } = true;
    /// <summary>
    /// Fusion: how many of the two views are masked. 2 is CAN (both masked, both reconstructed); 1 masks and
    /// reconstructs the first view only and contrasts it with the clean second view (the clean view as target,
    /// as in CMAE's and MSN's asymmetric designs); 0 contrasts two clean views, as SimCLR does, and reconstructs a
    /// masked copy of the first in a third pass (so masking never touches the contrastive pair).
    /// </summary>
    public int MaskedViews { get; init; } = 2;
    /// <summary>Fusion kind: on images CAN's shared encoder, its layered form, or a momentum target; on tables CAN-style masked views, their layered form, a momentum target, or feature subsets (see <see cref="FusionKind"/>); <see cref="ForMethod"/> picks per encoder.</summary>
    public FusionKind Fusion { get; init; } = FusionKind.Can;
    /// <summary>Momentum target: m₀ of the EMA (CMAE, BYOL, iBOT: 0.996), rising to 1 on a cosine over the run.</summary>
    public double TargetMomentum { get; init; } = 0.996;
    /// <summary>Tables (VIME): weight of the mask-estimation term beside reconstruction (VIME's α = 2 → 0.5).</summary>
    public double WeightMaskPrediction { get; init; } = 0.5;
    /// <summary>Number of classes (supervised baseline only; set from the data).</summary>
    public int Classes { get; init; }

    public static ObjectiveOptions ForMethod(Method method, bool vit, FusionKind fusion = FusionKind.Layered) => method switch
    {
        Method.Contrastive => new() { Method = method, Temperature = ImageTemperature },
        Method.Supervised => new() { Method = method },
        Method.Masked => new() { Method = method, MaskRatio = vit ? 0.75 : 0.6 },
        _ => ForFusion(vit, fusion),
    };

    /// <summary>
    /// Fusion's mask settings for an encoder and fusion kind. The default (layered) masks one view lightly and
    /// contrasts it with the clean other, on CNNs and ViTs alike: a CNN sees hidden patches as filled-in pixels and
    /// its contrastive term suffers from heavy masking (0.25 beat 0.5 on the digits and on MNIST's validation slice);
    /// a ViT whose two contrastive views were both half masked never saw a whole image while training and lost 2.7
    /// points of validation linear accuracy on MNIST to one view masked at 0.25 beside a clean one (docs/TUNING.md).
    /// The decoder reads a lower stage (layered): it beat CAN's top-stage decoder on 12 of 12 probes with a ConvNet and
    /// 10 of 12 with ViT-mini, two seeds each. <c>--fusion can</c> on a ViT keeps CAN's own settings (Mishra et al.
    /// 2022: both views masked at 0.5), so the paper's method stays reproducible; <c>momentum</c> masks its one online
    /// view at CAN's 0.5 on a ViT, as it did when it was measured. A layered ViT's MAE decoder is half as wide as the
    /// default (64, two blocks): on MNIST's validation slice at 10 minutes it gave 25% more steps and won five of six
    /// probes over width 128 (+0.35 linear), and five of six over one block at width 128 (docs/TUNING.md).
    /// </summary>
    static ObjectiveOptions ForFusion(bool vit, FusionKind fusion) => (vit, fusion) switch
    {
        (true, FusionKind.Can) => new() { Method = Method.Fusion, MaskRatio = 0.5, MaskedViews = 2, Fusion = fusion },
        (true, FusionKind.Momentum) => new() { Method = Method.Fusion, MaskRatio = 0.5, MaskedViews = 1, Fusion = fusion },
        (true, _) => ForFusion(vit: false, fusion) with { DecoderDim = 64 },
        _ => new() { Method = Method.Fusion, MaskRatio = 0.25, MaskedViews = 1, Fusion = fusion, Temperature = fusion == FusionKind.Layered ? ImageTemperature : DefaultTemperature },
    };

    /// <summary>
    /// InfoNCE temperature of images' contrastive-only and (layered) fusion runs, CNN and ViT alike. On MNIST's
    /// validation slice 0.5 beat 0.2 for both methods: with the ConvNet at 3 and at 10 minutes (10 minutes: contrastive
    /// on all six probes, +0.24 linear, +0.24 kNN-20, +0.9 at 1%; fusion on four, +0.13 linear, kNN-20 −0.02; kNN-20
    /// at 1% +1.4 to +2.2 and NMI +0.06 to +0.14 in all four comparisons; 0.1 lost), and with ViT-mini on all six
    /// probes of all four comparisons at 3 and 10 minutes (10 minutes: contrastive +0.27 linear, +0.39 kNN-20, +1.4
    /// at 1%; fusion +0.28, +0.07, +0.7) (docs/TUNING.md). SimCLR's own CIFAR-10 setting is 0.5. Tables and the named
    /// fusion variants <c>can</c> and <c>momentum</c> keep 0.2, the value they were measured at.
    /// </summary>
    public const double ImageTemperature = 0.5;

    /// <summary>
    /// Defaults for tables: VIME's mask probability 0.3 for both masked modeling and fusion. Fusion weighs its
    /// InfoNCE term 0.1: on UCI Letter (20 epochs) w_nce = 1 with mask 0.5 fell below the random-init encoder
    /// (linear 90.7% vs 91.8%), w_nce = 0.1 with mask 0.3 reached 93.3% (docs/TUNING.md); CAN also keeps the
    /// contrastive weight small (0.03 at ImageNet scale). Fusion with a momentum target masks one view, the online one.
    /// </summary>
    public static ObjectiveOptions ForTableMethod(Method method, FusionKind fusion = FusionKind.Can) => method switch
    {
        Method.Masked => new() { Method = method, MaskRatio = 0.3 },
        Method.Fusion => new() { Method = method, MaskRatio = 0.3, WeightContrastive = 0.1, Fusion = fusion, MaskedViews = fusion == FusionKind.Momentum ? 1 : 2 },
        _ => new() { Method = method },
    };

    /// <summary>
    /// What a table's fusion cannot take: clean view pairs (a table's views differ only by their masking), and view
    /// counts a fusion kind does not make. Checked with the configuration, before a run writes anything, and again by
    /// the table objectives for callers that build one directly.
    /// </summary>
    public void ValidateForTable()
    {
        if (Method != Method.Fusion) return;
        if (MaskedViews == 0)
            throw new ArgumentException("--masked-views 0 is for images (two clean augmented views); a table's views differ only by their masking: use 1 or 2");
        if (Fusion == FusionKind.Subsets && MaskedViews != 2)
            throw new ArgumentException($"--masked-views {MaskedViews} is for --fusion can or layered; --fusion subsets makes one view per column subset");
        if (Fusion == FusionKind.Momentum && MaskedViews != 1)
            throw new ArgumentException($"--masked-views {MaskedViews} is for --fusion can or layered; --fusion momentum masks the online view and shows its target the clean row");
    }

    /// <summary>
    /// The refusal of <c>--fusion layered</c> for a table encoder without residual blocks to read below the last: one
    /// text for the configuration's check (before a run writes anything) and the objective's (for direct callers).
    /// </summary>
    public static ArgumentException LayeredTableNeedsResidualMlp(string encoder) =>
        new($"--fusion layered on a table needs the residual MLP with at least two blocks (--encoder mlp), not {encoder}; use --fusion can");

    /// <summary>What image fusion cannot take: the table-only fusion kinds.</summary>
    public void ValidateForImages()
    {
        if (Method == Method.Fusion && Fusion == FusionKind.Subsets)
            throw new ArgumentException("--fusion subsets is for tables (views of column subsets); images fuse with can, momentum or layered");
    }

    public void Validate()
    {
        if (Temperature is <= 0 or > 10) throw new ArgumentOutOfRangeException(null, $"temperature {Temperature} is out of range: expected (0, 10]");
        if (MaskRatio is < 0 or >= 1) throw new ArgumentOutOfRangeException(null, $"mask ratio {MaskRatio} is out of range: expected [0, 1)");
        foreach (var (name, w) in new[] { ("contrastive weight", WeightContrastive), ("reconstruction weight", WeightReconstruction) })
            if (!(w is >= 0 and <= 1000)) throw new ArgumentOutOfRangeException(null, $"{name} {w} is out of range: expected [0, 1000]");   // NaN too: it trains to a NaN loss
        if (WeightMaskPrediction is < 0 or > 1000) throw new ArgumentOutOfRangeException(null, $"mask-prediction weight {WeightMaskPrediction} is out of range: expected [0, 1000]");
        if (AnnealReconstruction && Method != Method.Fusion)
            throw new ArgumentException($"--anneal-reconstruction schedules fusion's reconstruction weight; --method {Method.ToString().ToLowerInvariant()} has none: use it with --method fusion");
        if (WeightNoise is < 0 or > 1) throw new ArgumentOutOfRangeException(null, $"noise weight {WeightNoise} is out of range: expected [0, 1]");
        if (NoiseStdMax is <= 0 or > 10) throw new ArgumentOutOfRangeException(null, $"noise std {NoiseStdMax} is out of range: expected (0, 10]");
        if (DecoderDim < 8 || DecoderDim % 4 != 0 || DecoderDim % DecoderHeads != 0)
            throw new ArgumentOutOfRangeException(null, $"decoder width {DecoderDim} must be a multiple of 4 and of the decoder heads ({DecoderHeads})");
        if (MaskedViews is not (0 or 1 or 2)) throw new ArgumentOutOfRangeException(null, $"masked views {MaskedViews} is out of range: expected 0, 1 or 2");
        if (TargetMomentum is < 0 or > 1 || double.IsNaN(TargetMomentum)) throw new ArgumentOutOfRangeException(null, $"target momentum {TargetMomentum} is out of range: expected [0, 1]");
        if (DecoderDepth is < 1 or > 16) throw new ArgumentOutOfRangeException(null, $"decoder depth {DecoderDepth} is out of range: expected 1 to 16");
    }
}
