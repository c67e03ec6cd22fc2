namespace Contramask.Data;

/// <summary>
/// The validation slice: a seeded, stratified fraction of the training split (10% unless the data spec says
/// <c>val=</c>) that pretraining and the probes never train on. Every choice (recipes, defaults, probe settings,
/// early stopping) is made on it, so the test split is read only to publish.
/// </summary>
public static class ValidationSplit
{
    public const double DefaultFraction = 0.1;

    /// <summary>
    /// Splits record positions 0…count−1 into training and validation (both ascending): round(fraction · n) of each
    /// class, at most n − 1 so every class keeps a training record; without labels, a seeded random fraction. Tiny
    /// classes may give none (then there is no validation slice).
    /// </summary>
    /// <param name="labelOf">A record's class (any text), or null for unlabeled data.</param>
    public static (int[] Train, int[] Validation) Carve(int count, Func<int, string>? labelOf, double fraction, int seed)
    {
        if (fraction is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(fraction), $"validation fraction {fraction} must be in [0, 1)");
        if (fraction == 0 || count < 2) return (Enumerable.Range(0, count).ToArray(), []);
        var random = new Random(seed);
        var validation = new List<int>();
        var groups = labelOf is null ? [Enumerable.Range(0, count).ToArray()]
            : Enumerable.Range(0, count).GroupBy(labelOf, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => g.ToArray()).ToList();
        foreach (var members in groups)
        {
            random.Shuffle(members);
            int take = Math.Min(members.Length - 1, (int)Math.Round(members.Length * fraction));
            validation.AddRange(members[..Math.Max(0, take)]);
        }
        var inValidation = new HashSet<int>(validation);
        return (Enumerable.Range(0, count).Where(i => !inValidation.Contains(i)).ToArray(), validation.Order().ToArray());
    }
}
