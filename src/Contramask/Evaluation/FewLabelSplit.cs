namespace Contramask.Evaluation;

/// <summary>
/// Stratified subsets of labelled records: the same fraction of every class (at least one each), drawn with a
/// seed so the split repeats. Used for the few-label protocol (1% and 10% of the training labels), and for the
/// stratified folds or the 10% slice on which the linear probe picks its L2 penalty.
/// </summary>
public static class FewLabelSplit
{
    /// <returns>Indices (ascending) of the chosen records.</returns>
    public static int[] Stratified(IReadOnlyList<int> labels, double fraction, int seed)
    {
        if (fraction <= 0 || fraction > 1) throw new ArgumentOutOfRangeException(nameof(fraction), $"fraction {fraction} must be in (0, 1]");
        var random = new Random(seed);
        var chosen = new List<int>();
        foreach (var group in Enumerable.Range(0, labels.Count).GroupBy(i => labels[i]).OrderBy(g => g.Key))
        {
            var members = group.ToArray();
            random.Shuffle(members);
            int take = Math.Clamp((int)Math.Round(members.Length * fraction), 1, members.Length);
            chosen.AddRange(members[..take]);
        }
        chosen.Sort();
        return chosen.ToArray();
    }

    /// <summary>Splits indices into a stratified validation slice and the rest.</summary>
    public static (int[] Train, int[] Validation) TrainValidation(IReadOnlyList<int> labels, double validationFraction, int seed)
    {
        var validation = Stratified(labels, validationFraction, seed);
        var inValidation = new HashSet<int>(validation);
        return (Enumerable.Range(0, labels.Count).Where(i => !inValidation.Contains(i)).ToArray(), validation);
    }

    /// <summary>
    /// Assigns every record to one of <paramref name="folds"/> folds so that each class is spread evenly over them
    /// (a class with at least <paramref name="folds"/> records appears in every fold).
    /// </summary>
    /// <returns>The fold of each record, 0 … folds − 1.</returns>
    public static int[] StratifiedFolds(IReadOnlyList<int> labels, int folds, int seed)
    {
        var random = new Random(seed);
        var fold = new int[labels.Count];
        foreach (var group in Enumerable.Range(0, labels.Count).GroupBy(i => labels[i]).OrderBy(g => g.Key))
        {
            var members = group.ToArray();
            random.Shuffle(members);
            int start = random.Next(folds);
            for (int m = 0; m < members.Length; m++) fold[members[m]] = (start + m) % folds;
        }
        return fold;
    }
}
