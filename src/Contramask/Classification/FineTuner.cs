using Contramask.Data;
using Contramask.Models;
using Contramask.Training;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Classification;

/// <summary>
/// What end-to-end training did: its steps, the step whose weights were kept, and that step's validation accuracy;
/// <see cref="Interrupted"/> when the user stopped it before its last step (the best check so far is kept).
/// </summary>
public sealed record FineTuneResult(int Steps, int BestStep, double BestValidationAccuracy, double Seconds, double PseudoLabelShare, bool Interrupted = false);

/// <summary>
/// End-to-end training of a <see cref="ClassifierNetwork"/> whose head starts from the linear probe (LP-FT; Kumar
/// et al. 2022: fine-tuning from a fitted head distorts pretrained features less than from a random one). AdamW (or,
/// with <see cref="ClassifierOptions.Optimizer"/>, FixMatch's Nesterov SGD) with a linear warm-up then cosine decay;
/// the encoder learns at a fraction of the head's rate, a ViT's lower blocks at a smaller one still (layer-wise decay, as MAE fine-tunes). Every <see cref="ClassifierOptions.EvaluateEvery"/> steps
/// the validation slice is scored and the best weights kept; training stops after
/// <see cref="ClassifierOptions.TotalPatience"/> checks without improvement (by default it runs its whole schedule), or
/// before the next step once <c>cancel</c> is signalled (Ctrl+C), keeping the best weights checked so far.
/// <para>Semi-supervised (<see cref="ClassifierMode.Semi"/>): FixMatch's consistency term (Sohn et al. 2020, eq. 4)
/// is added: for μ·B unlabelled records, the prediction on a weak view, where its confidence reaches τ, is the
/// hard target of the strong view's cross-entropy, averaged over all μ·B records. Where it differs from the paper:
/// the views are this project's (<see cref="ClassifierViews"/>; the strong one ends with Cutout, as the paper's does),
/// not RandAugment; the weak views go
/// through a separate no-grad forward unless <see cref="ClassifierOptions.JointBatch"/> (the paper puts labelled, weak
/// and strong views in one batch, sharing BatchNorm's batch statistics); μ is 3, not 7, for two CPU cores; and the model evaluated is the trained one unless
/// <see cref="ClassifierOptions.AverageDecay"/> asks for FixMatch's exponential moving average of its weights.</para>
/// <para>BatchNorm's running statistics follow the augmented training views; with
/// <see cref="ClassifierOptions.RecalibrateBatchNorm"/> they are re-estimated on clean training images before each
/// validation check (<see cref="BatchNormRecalibration"/>), so the kept weights are scored as they will be used.</para>
/// </summary>
public static class FineTuner
{
    public static FineTuneResult Run(ClassifierNetwork network, PretrainConfig config, IRecordSet train, int[] labelled, int[]? unlabelled,
        IRecordSet validation, ClassifierOptions options, Action<string>? progress = null, CancellationToken cancel = default, TeacherLabels? teacher = null)
    {
        var device = network.parameters().First().device;
        using var generator = new Generator((ulong)options.Seed + 7);
        var random = new Random(options.Seed + 7);
        var standardize = ModelFactory.Standardizer(config, train, device);
        using var views = ClassifierViews.For(config, train, generator, standardize, options);
        var (optimizer, scales) = BuildOptimizer(network, options);
        using var _ = optimizer;
        MixedPrecision.Apply(network, MixedPrecision.Resolve(config.Precision, config.Encoder, device));
        var validationLabels = validation.Labels!.Select(l => (long)l).ToArray();
        // A student sees its labelled and pseudo-labelled records through the view options.StudentView names (Noisy
        // Student noises the student's inputs; Xie et al. 2020, §2).
        var targets = TeacherLabels.Targets(train, teacher);
        Func<Tensor, int[], Tensor> view = teacher is not null && options.StudentView == StudentView.Strong ? views.Strong : views.Weak;

        // Validation accuracy of the weights in the network now, scored as they will be used.
        double Score()
        {
            if (options.RecalibrateBatchNorm) BatchNormRecalibration.Run(network.Encoder, train, standardize, options.Seed);
            return Accuracy(network, validation, validationLabels, standardize);
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        double best = Score();
        int bestStep = 0, sinceBest = 0, step = 0;
        bool interrupted = false;
        long pseudo = 0, offered = 0;
        var snapshot = Snapshot(network);
        // The moving average of the weights, when asked for: what validation scores and what is kept.
        var average = options.AverageDecay is null ? null : Snapshot(network);
        progress?.Invoke($"fine-tuning: step 0, validation accuracy {100 * best:F2}%");
        try
        {
            network.train();
            for (step = 1; step <= options.TotalSteps; step++)
            {
                if (cancel.IsCancellationRequested) { interrupted = true; break; }
                using var scope = NewDisposeScope();
                double progressShare = (double)step / options.TotalSteps;
                double lr = LearningRateSchedule.At(progressShare, options.LearningRate, 0.05);
                for (int g = 0; g < optimizer.Groups.Count; g++) optimizer.Groups[g].LearningRate = lr * scales[g];

                var batch = Draw(labelled, options.BatchSize, random);
                var labels = train.LabelBatch(batch).to(device);
                var inputs = view(train.Inputs(batch), batch);
                Tensor loss;
                if (teacher is { Indices.Length: > 0 })
                {
                    // Noisy Student's reference code (google-research/noisystudent, main.py): B labelled and r·B
                    // pseudo-labelled records a step, one forward, loss = CE(labelled) + r · CE(pseudo-labelled).
                    var others = Draw(teacher.Indices, options.BatchSize * options.UnlabelledRatio, random);
                    var logits = network.forward(cat([inputs, view(train.Inputs(others), others)], 0)).to(ScalarType.Float32);
                    var taught = tensor(others.Select(i => targets[i]).ToArray()).to(device);
                    loss = F.cross_entropy(logits.narrow(0, 0, batch.Length), labels)
                        .add(F.cross_entropy(logits.narrow(0, batch.Length, others.Length), taught), Of(options.UnlabelledRatio));
                }
                else if (unlabelled is { Length: > 0 } && options.UnlabelledWeight > 0)
                {
                    var others = Draw(unlabelled, options.BatchSize * options.UnlabelledRatio, random);
                    var raw = train.Inputs(others);
                    var weak = views.Weak(raw, others);
                    Tensor weakLogits, labelledLogits, strongLogits;
                    if (options.JointBatch)
                    {
                        // One batch through BatchNorm, as FixMatch's code runs it; Consistency detaches the weak logits.
                        var all = network.forward(cat([inputs, weak, views.Strong(raw, others)], 0)).to(ScalarType.Float32);
                        labelledLogits = all.narrow(0, 0, batch.Length);
                        weakLogits = all.narrow(0, batch.Length, others.Length);
                        strongLogits = all.narrow(0, batch.Length + others.Length, others.Length);
                    }
                    else
                    {
                        // The weak view's prediction is a target, not something to learn through (FixMatch stops its gradient).
                        using (no_grad()) weakLogits = network.forward(weak);
                        var logits = network.forward(cat([inputs, views.Strong(raw, others)], 0)).to(ScalarType.Float32);
                        labelledLogits = logits.narrow(0, 0, batch.Length);
                        strongLogits = logits.narrow(0, batch.Length, others.Length);
                    }
                    var supervised = F.cross_entropy(labelledLogits, labels);
                    var (consistency, confident) = Consistency(strongLogits, weakLogits, options.Threshold);
                    loss = supervised.add(consistency, Of(options.UnlabelledWeight));
                    pseudo += confident;
                    offered += others.Length;
                }
                else
                {
                    loss = F.cross_entropy(network.forward(inputs).to(ScalarType.Float32), labels);
                }
                optimizer.ZeroGrad();
                double value = loss.item<float>();
                if (!double.IsFinite(value)) throw new InvalidOperationException($"fine-tuning diverged at step {step} (loss {value}); try a lower --lr");
                loss.backward();
                nn.utils.clip_grad_norm_(network.parameters(), 3.0);
                optimizer.Step();
                if (average is not null) Average(network, average, options.AverageDecay!.Value, step);

                if (step % options.EvaluateEvery == 0 || step == options.TotalSteps)
                {
                    Dictionary<string, Tensor>? trained = null;
                    if (average is not null) { trained = Snapshot(network); Restore(network, average); }
                    double accuracy = Score();
                    progress?.Invoke($"fine-tuning: step {step}/{options.TotalSteps}, loss {value:F4}, validation accuracy {100 * accuracy:F2}%"
                        + (offered > 0 ? $", pseudo-labelled {100.0 * pseudo / offered:F0}%" : ""));
                    bool improved = accuracy > best;
                    if (improved)
                    {
                        best = accuracy; bestStep = step; sinceBest = 0;
                        foreach (var t in snapshot.Values) t.Dispose();
                        snapshot = Snapshot(network);
                    }
                    if (trained is not null)
                    {
                        Restore(network, trained);
                        foreach (var t in trained.Values) t.Dispose();
                    }
                    network.train();
                    if (!improved && ++sinceBest >= options.TotalPatience) break;
                }
            }
            Restore(network, snapshot);
        }
        finally
        {
            foreach (var t in snapshot.Values) t.Dispose();
            if (average is not null) foreach (var t in average.Values) t.Dispose();
            MixedPrecision.Apply(network, null);
            network.eval();
        }
        int done = interrupted ? step - 1 : Math.Min(step, options.TotalSteps);
        return new FineTuneResult(done, bestStep, best, clock.Elapsed.TotalSeconds, offered == 0 ? 0 : (double)pseudo / offered, interrupted);
    }

    /// <summary>
    /// FixMatch's unlabelled loss (Sohn et al. 2020, eq. 4): (1/μB) Σ 1[max p_weak ≥ τ] · H(argmax p_weak, p_strong),
    /// averaged over every unlabelled record (the unconfident ones count as zero). Returns the loss and how many
    /// records had a confident pseudo-label.
    /// </summary>
    public static (Tensor Loss, long Confident) Consistency(Tensor strongLogits, Tensor weakLogits, double threshold)
    {
        using var scope = NewDisposeScope();
        var (top, target) = weakLogits.detach().to(ScalarType.Float32).softmax(1).max(1);
        var mask = top.ge(Of(threshold)).to(ScalarType.Float32);
        var loss = F.cross_entropy(strongLogits.to(ScalarType.Float32), target, reduction: nn.Reduction.None).mul(mask).mean();
        return (loss.MoveToOuterDisposeScope(), (long)mask.sum().item<float>());
    }

    /// <summary>Labelled records drawn with replacement: a few hundred labels still fill every batch.</summary>
    static int[] Draw(int[] pool, int count, Random random)
    {
        var batch = new int[count];
        for (int i = 0; i < count; i++) batch[i] = pool[random.Next(pool.Length)];
        return batch;
    }

    /// <summary>Accuracy of the network on a labelled split, in eval mode and float32.</summary>
    public static double Accuracy(ClassifierNetwork network, IRecordSet records, long[] labels, Func<Tensor, Tensor> standardize)
    {
        using var logits = Logits(network, records, standardize);
        using var predicted = logits.argmax(1);
        {
            var p = predicted.data<long>().ToArray();
            return p.Zip(labels).Count(x => x.First == x.Second) / (double)Math.Max(1, labels.Length);
        }
    }

    /// <summary>N×C logits of every record (CPU, float32), eval mode, batch by batch.</summary>
    public static Tensor Logits(ClassifierNetwork network, IRecordSet records, Func<Tensor, Tensor> standardize, int batchSize = 512)
    {
        bool wasTraining = network.training;
        network.eval();
        try
        {
            using var float32 = MixedPrecision.InFloat32(network);
            return Evaluation.EmbeddingExtractor.Extract(x => network.forward(standardize(x)), records, batchSize);
        }
        finally { if (wasTraining) network.train(); }
    }

    /// <summary>
    /// One optimizer group per (learning-rate scale, decayed or not): the head at 1, the encoder at
    /// <see cref="ClassifierOptions.EncoderRateScale"/>, a ViT's patch embedding and block i further by
    /// LayerDecay^(depth + 1 − layer) with the patch embedding at layer 0 (MAE's <c>param_groups_lrd</c> rule).
    /// </summary>
    static (Optimizer Optimizer, double[] Scales) BuildOptimizer(ClassifierNetwork network, ClassifierOptions options)
    {
        var (decay, _) = WeightDecayGroups.Split(network);
        var decayed = new HashSet<Parameter>(decay, ReferenceEqualityComparer.Instance);
        int depth = network.Encoder is VisionTransformer vit ? vit.Depth : -1;
        var groups = new Dictionary<(double Scale, bool Decay), List<Parameter>>();
        foreach (var (name, parameter) in network.named_parameters())
        {
            if (!parameter.requires_grad) continue;
            double scale = name.StartsWith("head.", StringComparison.Ordinal) ? 1 : options.EncoderRateScale * LayerScale(name, depth, options.LayerDecay);
            var key = (scale, decayed.Contains(parameter));
            if (!groups.TryGetValue(key, out var list)) groups[key] = list = [];
            list.Add(parameter);
        }
        var ordered = groups.OrderByDescending(g => g.Key.Scale).ThenBy(g => g.Key.Decay).ToList();
        var groupList = ordered.Select(g => new ParameterGroup(g.Value, options.LearningRate * g.Key.Scale, g.Key.Decay ? options.WeightDecay : 0)).ToList();
        Optimizer optimizer = options.Optimizer == ClassifierOptimizer.Sgd ? new Sgd(groupList) : new AdamW(groupList);
        return (optimizer, ordered.Select(g => g.Key.Scale).ToArray());
    }

    /// <summary>A parameter's learning-rate factor within the encoder: 1 for CNNs and tables; for a ViT of <paramref name="depth"/> blocks, decay^(depth + 1 − layer).</summary>
    public static double LayerScale(string name, int depth, double decay)
    {
        if (depth < 0) return 1;
        // encoder.patchEmbedding.* → layer 0; encoder.blocks.i.* → i + 1; the final norm → depth + 1 (the top).
        int layer = depth + 1;
        var parts = name.Split('.');
        if (parts.Length > 1 && parts[1] == "patchEmbedding") layer = 0;
        else if (parts.Length > 2 && parts[1] == "blocks" && int.TryParse(parts[2], out var block)) layer = block + 1;
        return Math.Pow(decay, depth + 1 - layer);
    }

    /// <summary>
    /// One step of the moving average: a ← d·a + (1 − d)·w for floating-point weights and buffers (integer counters are
    /// copied), with d = min(decay, (1 + step)/(10 + step)): the optional warm-up of TensorFlow's
    /// ExponentialMovingAverage (its num_updates). FixMatch's code (fixmatch.py, <c>ema=0.999</c>) averages without it
    /// over a million steps, where the start does not matter; over a fine-tune's few thousand the starting weights
    /// would still weigh e^-3 after 3,000 steps at 0.999, and most of the early checks.
    /// </summary>
    public static void Average(nn.Module module, Dictionary<string, Tensor> average, double decay, int step)
    {
        double d = Math.Min(decay, (1.0 + step) / (10.0 + step));
        using var keep = d.ToScalar();
        using var take = (1 - d).ToScalar();
        using var _ = no_grad();
        foreach (var (name, value) in module.state_dict())
        {
            var a = average[name];
            if (a.is_floating_point()) a.mul_(keep).add_(value, take);
            else a.copy_(value);
        }
    }

    static Dictionary<string, Tensor> Snapshot(nn.Module module)
    {
        using var _ = no_grad();
        return module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope());
    }

    static void Restore(nn.Module module, Dictionary<string, Tensor> snapshot)
    {
        using var _ = no_grad();
        foreach (var (name, value) in module.state_dict()) value.copy_(snapshot[name]);
    }
}
