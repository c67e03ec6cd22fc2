namespace Contramask.Classification;

/// <summary>How the classifier on top of a pretrained encoder learns.</summary>
public enum ClassifierMode
{
    /// <summary>Frozen encoder, logistic-regression head (what evaluation's linear probe does, kept as a model).</summary>
    Probe,
    /// <summary>The probe's head first, then encoder and head trained end to end (LP-FT); the best validation check is kept.</summary>
    Full,
    /// <summary>As <see cref="Full"/>, plus the unlabelled rest of the training split through confident pseudo-labels (FixMatch-style consistency).</summary>
    Semi,
}

/// <summary>The light view labelled records (and, in semi, the pseudo-labelling pass) see during fine-tuning of an image encoder.</summary>
public enum WeakView
{
    /// <summary>Pretraining's light view: a random resized crop of 50–100% of the image, flips for colour.</summary>
    Crop,
    /// <summary>FixMatch's weak view: the whole image shifted by up to 12.5%, flips for colour.</summary>
    Shift,
}

/// <summary>The strong view unlabelled records see in semi-supervised fine-tuning of an image encoder.</summary>
public enum StrongView
{
    /// <summary>Pretraining's contrastive view: random resized crop down to 35% of the area, brightness/contrast, blur, noise.</summary>
    Contrastive,
    /// <summary>Shape distortions instead of deep crops: rotation, shear, shifts, a light crop (<see cref="Views.AugmentationOptions.Affine"/>).</summary>
    Affine,
}

/// <summary>The view a student (<see cref="ClassifierOptions.Teacher"/>) sees its labelled and pseudo-labelled records through.</summary>
public enum StudentView
{
    /// <summary>The strong view (<see cref="ClassifierOptions.StrongView"/>, ending with Cutout): Noisy Student's input noise (Xie et al. 2020).</summary>
    Strong,
    /// <summary>The weak view (<see cref="ClassifierOptions.WeakView"/>), as a classifier without a teacher trains.</summary>
    Weak,
}

/// <summary>The optimizer of end-to-end training.</summary>
public enum ClassifierOptimizer
{
    /// <summary>AdamW (decoupled weight decay), as pretraining uses.</summary>
    AdamW,
    /// <summary>SGD with Nesterov momentum 0.9 and L2 weight decay, as FixMatch trains (<see cref="Training.Sgd"/>).</summary>
    Sgd,
}

/// <summary>
/// Settings of <see cref="Classifier.Train"/>. Defaults are documented in the README's "Classify" section, which a
/// test checks against these values.
/// </summary>
public sealed record ClassifierOptions
{
    public ClassifierMode Mode { get; init; } = ClassifierMode.Full;
    public LabelBudget Labels { get; init; } = LabelBudget.All;
    /// <summary>Seed of the label draw, the batches and the views.</summary>
    public int Seed { get; init; }
    /// <summary>The probe's L2 penalties, chosen on the validation slice.</summary>
    public IReadOnlyList<double> L2Grid { get; init; } = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2];
    /// <summary>Optimizer steps of end-to-end training (full, semi); <see cref="Patience"/> may end it sooner.</summary>
    public int? Steps { get; init; }
    /// <summary>Default steps, both modes run to the end (validation slice, docs/TUNING.md): at 6,000 steps instead of
    /// 1,500/3,000 with early stopping, full with 6,000 MNIST labels scored 99.03 against 98.77, with all labels 99.48
    /// against 99.02, and semi with 600 labels 98.50 against 98.22.</summary>
    public const int FullSteps = 6000, SemiSteps = 6000;
    /// <summary>The steps a run takes: <see cref="Steps"/>, or the mode's default.</summary>
    [System.Text.Json.Serialization.JsonIgnore] public int TotalSteps => Steps ?? (Mode == ClassifierMode.Semi ? SemiSteps : FullSteps);
    /// <summary>Labelled records per step.</summary>
    public int BatchSize { get; init; } = 128;
    public ClassifierOptimizer Optimizer { get; init; } = ClassifierOptimizer.AdamW;
    readonly double? learningRate, weightDecay;
    /// <summary>Peak learning rate of the head; the encoder's is this × <see cref="EncoderRateScale"/>. Unless set, the optimizer's (<see cref="DefaultLearningRate"/>).</summary>
    public double LearningRate { get => learningRate ?? DefaultLearningRate(Optimizer); init => learningRate = value; }
    /// <summary>
    /// The encoder learns slower than the new head so fine-tuning does not wash out what pretraining found
    /// (Kumar et al. 2022 start from the probe's head for the same reason).
    /// </summary>
    public double EncoderRateScale { get; init; } = 0.3;
    /// <summary>ViTs: each block's rate is this power of its distance from the top (MAE's fine-tuning recipe, Bao et al. 2022; 0.75 there).</summary>
    public double LayerDecay { get; init; } = 0.75;
    /// <summary>Weight decay of weight matrices and kernels (AdamW: decoupled; SGD: L2 on the gradient). Unless set, the optimizer's (<see cref="DefaultWeightDecay"/>).</summary>
    public double WeightDecay { get => weightDecay ?? DefaultWeightDecay(Optimizer); init => weightDecay = value; }

    /// <summary>The head's peak rate for an optimizer: AdamW 1e-3; SGD FixMatch's η = 0.03 (Sohn et al. 2020).</summary>
    public static double DefaultLearningRate(ClassifierOptimizer optimizer) => optimizer == ClassifierOptimizer.Sgd ? 0.03 : 1e-3;

    /// <summary>Weight decay for an optimizer: AdamW 0.05 (decoupled); SGD FixMatch's 5e-4 (L2 on kernels; google-research/fixmatch, fixmatch.py).</summary>
    public static double DefaultWeightDecay(ClassifierOptimizer optimizer) => optimizer == ClassifierOptimizer.Sgd ? 5e-4 : 0.05;
    /// <summary>Steps between validation checks; the best check's weights are kept.</summary>
    public int EvaluateEvery { get; init; } = 100;
    /// <summary>
    /// Validation checks without improvement before stopping; null = never stop early (the best check is kept either
    /// way). Early stopping with 5 checks lost 0.3–0.5 points on MNIST: validation accuracy wanders for a thousand
    /// steps while the cosine rate is high and climbs as it anneals (docs/TUNING.md).
    /// </summary>
    public int? Patience { get; init; }
    /// <summary>The checks without improvement a run tolerates.</summary>
    [System.Text.Json.Serialization.JsonIgnore] public int TotalPatience => Patience ?? int.MaxValue;
    /// <summary>Images: the weak view (tables always see their rows as they are).</summary>
    public WeakView WeakView { get; init; } = WeakView.Crop;
    /// <summary>Semi, images: the strong view, before Cutout.</summary>
    public StrongView StrongView { get; init; } = StrongView.Contrastive;
    /// <summary>
    /// Semi, images: the strong view ends with Cutout, a square (<see cref="CutoutFill"/>, grey by default) of up to this fraction of the image's side
    /// (FixMatch's strong augmentation ends so, with 0.5; Sohn et al. 2020, §2.3); 0 = none. On MNIST with 600 labels
    /// it scored 98.38 against 98.22 without (validation slice, docs/TUNING.md).
    /// </summary>
    public double Cutout { get; init; } = 0.5;
    /// <summary>Semi, images: the Cutout square's value in the unit range (FixMatch's mid grey 0.5; 0 = black, MNIST's background).</summary>
    public double CutoutFill { get; init; } = Views.AugmentationOptions.GreyCutoutFill;
    /// <summary>CNNs: re-estimate BatchNorm's running statistics on clean training images before each validation check (they otherwise describe augmented views).</summary>
    public bool RecalibrateBatchNorm { get; init; }
    readonly double? threshold;
    /// <summary>
    /// Semi: the smallest softmax confidence on the weak view for a pseudo-label (FixMatch's τ = 0.95). With a
    /// <see cref="Teacher"/>: the teacher's calibrated confidence a pseudo-label needs. Unless set,
    /// <see cref="DefaultThreshold"/>.
    /// </summary>
    public double Threshold { get => threshold ?? DefaultThreshold(Teacher is not null); init => threshold = value; }

    /// <summary>
    /// FixMatch's τ = 0.95 for semi; 0.5 for a teacher's pseudo-labels, where it beat 0.95 on MNIST's validation slice
    /// at 600 and 6,000 labels (98.67 against 98.43, 99.03 against 98.98; docs/TUNING.md): the records a teacher is
    /// unsure of are where a student can learn something the teacher does not already know.
    /// </summary>
    public static double DefaultThreshold(bool teacher) => teacher ? 0.5 : 0.95;
    /// <summary>Semi: unlabelled records per labelled one in a step (FixMatch's μ = 7; fewer here for two CPU cores); with a <see cref="Teacher"/>, pseudo-labelled ones (Noisy Student's unlabel_ratio).</summary>
    public int UnlabelledRatio { get; init; } = 3;
    /// <summary>
    /// Semi: labelled, weak and strong views go through the network as one batch, so BatchNorm normalizes them with
    /// shared batch statistics (FixMatch's code does so; its weak logits are then detached); off = the weak views in a
    /// separate pass without gradient (no backward through them).
    /// </summary>
    public bool JointBatch { get; init; }
    /// <summary>Semi: weight of the unlabelled consistency term (FixMatch's λ_u = 1).</summary>
    public double UnlabelledWeight { get; init; } = 1.0;
    /// <summary>
    /// Validate and keep an exponential moving average of the weights instead of the trained ones, with this decay
    /// (FixMatch evaluates such an average, decay 0.999; Sohn et al. 2020, §4); null = the trained weights.
    /// </summary>
    public double? AverageDecay { get; init; }
    /// <summary>
    /// The baseline a user would otherwise pick: the run's encoder architecture with seeded random weights instead of
    /// the pretrained ones, trained on the same labels (the encoder then learns at the head's rate).
    /// </summary>
    public bool FromScratch { get; init; }
    /// <summary>
    /// Full mode: a trained classifier folder whose confident predictions (at least <see cref="Threshold"/>) label the
    /// training records outside the budget, which the student then learns from beside the true labels (self-training,
    /// Noisy Student; Xie et al. 2020). Null = no teacher.
    /// </summary>
    public string? Teacher { get; init; }
    /// <summary>With a teacher: the view the student's records go through.</summary>
    public StudentView StudentView { get; init; } = StudentView.Strong;
    /// <summary>Score the test split at the end (off while choosing settings, so no choice ever sees a test figure).</summary>
    public bool ScoreTest { get; init; } = true;
    /// <summary>Threads (0 = the run's setting).</summary>
    public int Threads { get; init; }
    /// <summary>
    /// Classifiers trained on the same labels whose calibrated probabilities are averaged (a deep ensemble,
    /// Lakshminarayanan et al. 2017): member k trains with seed <see cref="Seed"/> + k, the labels are drawn with
    /// <see cref="Seed"/> alone, so member 0 is the classifier a single run would train. 1 = no ensemble.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore] public int Members { get => members ?? 1; init => members = value == 1 ? null : value; }
    // Written only for an ensemble, so a single classifier's settings read as before (benchmark --finetune reuses a
    // stored classifier whose serialized settings match).
    [System.Text.Json.Serialization.JsonInclude, System.Text.Json.Serialization.JsonPropertyName("members"),
     System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    int? WrittenMembers { get => members; init => members = value; }
    int? members;
    public const int MaxMembers = 16;
    /// <summary>
    /// Images: after training, try test-time shifts (<see cref="Classification.TestTimeShifts"/>) on the validation slice and keep
    /// the best (none when the image alone scores as well). Off by default: a kept shift makes predictions five times
    /// as costly. Written only when on, so settings without it serialize as before.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)]
    public bool TestTimeShifts { get; init; }

    public void Validate()
    {
        static void Check(bool ok, string message) { if (!ok) throw new ArgumentOutOfRangeException(null, message); }
        Check(Steps is null or (>= 1 and <= 1_000_000), $"steps {Steps} is out of range: expected 1 to 1000000");
        Check(BatchSize is >= 2 and <= 65536, $"batch size {BatchSize} is out of range: expected 2 to 65536");
        Check(LearningRate is > 0 and <= 10, $"learning rate {LearningRate} is out of range: expected (0, 10]");
        Check(EncoderRateScale is >= 0 and <= 10, $"encoder rate scale {EncoderRateScale} is out of range: expected [0, 10]");
        Check(LayerDecay is > 0 and <= 1, $"layer decay {LayerDecay} is out of range: expected (0, 1]");
        Check(WeightDecay is >= 0 and <= 10, $"weight decay {WeightDecay} is out of range: expected [0, 10]");
        Check(EvaluateEvery is >= 1, $"evaluate-every {EvaluateEvery} must be at least 1");
        Check(Patience is null or >= 1, $"patience {Patience} must be at least 1");
        Check(Threshold is > 0 and <= 1, $"threshold {Threshold} is out of range: expected (0, 1]");
        Check(UnlabelledRatio is >= 1 and <= 64, $"unlabelled ratio {UnlabelledRatio} is out of range: expected 1 to 64");
        Check(Cutout is >= 0 and <= 1, $"cutout {Cutout} is out of range: expected [0, 1]");
        Check(CutoutFill is >= 0 and <= 1, $"cutout fill {CutoutFill} is out of range: expected [0, 1]");
        Check(UnlabelledWeight is >= 0 and <= 100, $"unlabelled weight {UnlabelledWeight} is out of range: expected [0, 100]");
        Check(AverageDecay is null or (> 0 and < 1), $"average decay {AverageDecay} is out of range: expected (0, 1)");
        Check(L2Grid.Count > 0 && L2Grid.All(v => v >= 0), "the L2 grid needs at least one non-negative penalty");
        if (FromScratch && Mode == ClassifierMode.Probe)
            throw new ArgumentException("--from-scratch trains the encoder: use it with --mode full or semi");
        if (Teacher is not null && Mode != ClassifierMode.Full)
            throw new ArgumentException("--teacher trains a student end to end on true and pseudo-labels: use it with --mode full");
        Check(Threads is >= 0 and <= 1024, $"threads {Threads} is out of range: expected 0 to 1024");
        Check(Members is >= 1 and <= MaxMembers, $"members {Members} is out of range: expected 1 to {MaxMembers}");
        if (Members > 1 && Mode == ClassifierMode.Probe)
            throw new ArgumentException("--members averages classifiers trained end to end with different seeds; the probe has no seed to vary: use it with --mode full or semi");
    }
}
