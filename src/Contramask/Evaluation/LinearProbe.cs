using TorchSharp;
using static Contramask.Runtime.Scalars;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Contramask.Evaluation;

/// <summary>
/// The linear evaluation protocol (Zhang et al. 2016; SimCLR §B.6): multinomial logistic regression on frozen,
/// standardized embeddings, fitted with mini-batch Adam and an L2 penalty. Standardization statistics come from
/// the training embeddings only.
/// </summary>
public sealed class LinearProbe : IDisposable
{
    readonly Tensor mean, std, weight, bias;

    LinearProbe(Tensor mean, Tensor std, Tensor weight, Tensor bias) { this.mean = mean; this.std = std; this.weight = weight; this.bias = bias; }

    /// <summary>
    /// Fits with mini-batch Adam and a cosine-decayed learning rate: at least <paramref name="epochs"/> passes and
    /// at least <paramref name="minimumSteps"/> steps. Full-batch steps over 60,000 rows cost ≈0.2 s each here;
    /// mini-batches of 1,024 reach the same test accuracy (MNIST raw pixels: 92.6%) far sooner. On a
    /// contrastive ConvNet's MNIST embeddings 100 passes gave 97.97% against 97.65% for 30 (train 98.4% vs 98.0%).
    /// </summary>
    /// <param name="standardizeBy">Features whose mean and std standardize the inputs (default: <paramref name="features"/>
    /// themselves); with few labels, all the unlabelled training embeddings give steadier statistics than the labelled few.</param>
    public static LinearProbe Fit(Tensor features, long[] labels, int classes, double l2 = 1e-4, int epochs = 100,
        double learningRate = 0.01, int seed = 0, int batchSize = 1024, int minimumSteps = 300, Tensor? standardizeBy = null)
    {
        using var scope = NewDisposeScope();
        long n = features.shape[0];
        var mean = (standardizeBy ?? features).mean([0], keepdim: true);
        var std = (standardizeBy ?? features).std(0, keepdim: true).clamp_min(Of(1e-6));
        var x = (features - mean) / std;
        var y = tensor(labels);
        using var generator = new Generator((ulong)seed);
        var weight = nn.Parameter(randn(x.shape[1], classes, generator: generator).mul_(Of(0.01)));
        var bias = nn.Parameter(zeros(classes));
        using var optimizer = new Training.AdamW([new([weight, bias], learningRate, weightDecay: 0)]);
        int batch = (int)Math.Min(n, batchSize);
        int stepsPerEpoch = (int)((n + batch - 1) / batch);
        int steps = Math.Max(minimumSteps, epochs * stepsPerEpoch);
        Tensor order = arange(Of(0L), Of(n), One);
        for (int step = 0; step < steps; step++)
        {
            using var stepScope = NewDisposeScope();
            int position = step % stepsPerEpoch;
            if (position == 0 && batch < n) order = randperm(n, generator: generator).MoveToOuterDisposeScope();
            var index = order.narrow(0, position * batch, Math.Min(batch, n - position * batch));
            optimizer.Groups[0].LearningRate = learningRate * 0.5 * (1 + Math.Cos(Math.PI * step / steps));
            optimizer.ZeroGrad();
            var loss = F.cross_entropy(x[index].matmul(weight).add(bias, One), y[index]).add(Square(weight).sum(), Of(l2));
            loss.backward();
            optimizer.Step();
        }
        return new LinearProbe(mean.MoveToOuterDisposeScope(), std.MoveToOuterDisposeScope(),
            weight.detach().MoveToOuterDisposeScope(), bias.detach().MoveToOuterDisposeScope());
    }


    /// <summary>
    /// Picks the L2 penalty on a stratified validation slice of the training features (never the test split),
    /// then refits on all training features with it.
    /// </summary>
    public static (LinearProbe Probe, double L2) FitSelectingL2(Tensor features, long[] labels, int classes, int seed = 0, double validationFraction = 0.1,
        ProbeSettings? settings = null)
    {
        settings ??= new ProbeSettings();
        var intLabels = labels.Select(l => (int)l).ToArray();
        var (trainIdx, validationIdx) = FewLabelSplit.TrainValidation(intLabels, validationFraction, seed);
        double best = 1e-4;
        // With too few examples left to learn every class, fall back to a middle penalty.
        if (trainIdx.Select(i => intLabels[i]).Distinct().Count() == classes && validationIdx.Length >= classes)
        {
            using var trainX = features.index_select(0, tensor(trainIdx.Select(i => (long)i).ToArray()));
            using var validationX = features.index_select(0, tensor(validationIdx.Select(i => (long)i).ToArray()));
            var trainY = trainIdx.Select(i => labels[i]).ToArray();
            var validationY = validationIdx.Select(i => labels[i]).ToArray();
            double bestAccuracy = -1;
            foreach (var l2 in settings.L2Grid)
            {
                using var candidate = Fit(trainX, trainY, classes, l2, settings.Epochs, seed: seed);
                double accuracy = candidate.Accuracy(validationX, validationY);
                if (accuracy > bestAccuracy) { bestAccuracy = accuracy; best = l2; }
            }
        }
        return (Fit(features, labels, classes, best, settings.Epochs, seed: seed), best);
    }

    /// <summary>The fitted standardization (1×D mean and std of the training features) and the D×C weight and C bias.</summary>
    public (Tensor Mean, Tensor Std, Tensor Weight, Tensor Bias) State => (mean, std, weight, bias);

    public long[] Predict(Tensor features) => Classify(features).Predicted;

    /// <summary>Predicted classes, and with two classes each record's probability of class 1 (a score for ROC-AUC).</summary>
    public (long[] Predicted, float[]? PositiveProbability) Classify(Tensor features)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var logits = ((features - mean) / std).matmul(weight).add(bias, One);
        var predicted = logits.argmax(1).data<long>().ToArray();
        var positive = logits.shape[1] == 2 ? logits.softmax(1)[.., 1].contiguous().data<float>().ToArray() : null;
        return (predicted, positive);
    }

    /// <summary>Class probabilities, N×C: the softmax of the logits.</summary>
    public Tensor Probabilities(Tensor features)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        return ((features - mean) / std).matmul(weight).add(bias, One).softmax(1).MoveToOuterDisposeScope();
    }

    public double Accuracy(Tensor features, long[] labels)
    {
        var predicted = Predict(features);
        return predicted.Zip(labels).Count(p => p.First == p.Second) / (double)Math.Max(1, labels.Length);
    }

    public void Dispose() { mean.Dispose(); std.Dispose(); weight.Dispose(); bias.Dispose(); }
}

/// <summary>
/// How the linear probe is fitted: passes over its training features and the L2 penalties its validation slice
/// chooses from. The defaults were chosen on the validation split of MNIST (docs/TUNING.md).
/// </summary>
public sealed record ProbeSettings
{
    public int Epochs { get; init; } = 100;
    public IReadOnlyList<double> L2Grid { get; init; } = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2];
}
