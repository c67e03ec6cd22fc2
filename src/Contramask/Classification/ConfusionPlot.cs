using SkiaSharp;

namespace Contramask.Classification;

/// <summary>
/// The confusion matrix as a PNG: one cell per (true class, predicted class) holding its count, shaded by the share
/// of the true class it holds (row-normalized, so a rare class's errors show as clearly as a common one's).
/// </summary>
public static class ConfusionPlot
{
    public static void Save(int[][] confusion, IReadOnlyList<string> classes, string title, string path)
    {
        int k = classes.Count;
        int cell = Math.Clamp(720 / Math.Max(1, k), 14, 64), margin = 110, top = 50;
        int size = margin + cell * k + 20;
        using var surface = SKSurface.Create(new SKImageInfo(size, top + cell * k + margin));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var titleFont = new SKFont(SKTypeface.Default, 16);
        using var labelFont = new SKFont(SKTypeface.Default, Math.Clamp(cell * 0.45f, 8, 14));
        using var countFont = new SKFont(SKTypeface.Default, Math.Clamp(cell * 0.35f, 6, 13));
        canvas.DrawText(title, 10, 24, SKTextAlign.Left, titleFont, text);
        using var fill = new SKPaint { Style = SKPaintStyle.Fill };
        for (int t = 0; t < k; t++)
        {
            double rowTotal = Math.Max(1, confusion.Length > t ? confusion[t].Sum() : 0);
            for (int p = 0; p < k; p++)
            {
                int count = confusion.Length > t && confusion[t].Length > p ? confusion[t][p] : 0;
                double share = count / rowTotal;
                // White to dark blue by share.
                fill.Color = new SKColor((byte)(255 - 225 * share), (byte)(255 - 180 * share), (byte)(255 - 60 * share));
                var rect = SKRect.Create(margin + p * cell, top + t * cell, cell, cell);
                canvas.DrawRect(rect, fill);
                if (count > 0 && cell >= 18)
                {
                    text.Color = share > 0.5 ? SKColors.White : SKColors.Black;
                    canvas.DrawText(count.ToString(System.Globalization.CultureInfo.InvariantCulture), rect.MidX, rect.MidY + countFont.Size / 3, SKTextAlign.Center, countFont, text);
                }
            }
        }
        text.Color = SKColors.Black;
        for (int c = 0; c < k; c++)
        {
            string name = classes[c].Length > 14 ? classes[c][..13] + "…" : classes[c];
            canvas.DrawText(name, margin - 6, top + c * cell + cell / 2f + labelFont.Size / 3, SKTextAlign.Right, labelFont, text);
            canvas.Save();
            canvas.Translate(margin + c * cell + cell / 2f + labelFont.Size / 3, top + k * cell + 6);
            canvas.RotateDegrees(90);
            canvas.DrawText(name, 0, 0, SKTextAlign.Left, labelFont, text);
            canvas.Restore();
        }
        canvas.DrawText("true class ↓   predicted class →", 10, top + k * cell + margin - 8, SKTextAlign.Left, labelFont, text);
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 90);
        using var file = File.Create(path);
        data.SaveTo(file);
    }
}
