using Contramask.Data;
using SkiaSharp;

namespace Contramask.Mining;

/// <summary>A PNG grid of images (rows of records, e.g. one row per cluster), drawn with SkiaSharp, each cell upscaled.</summary>
public static class ContactSheet
{
    /// <param name="rows">Each row: the records to show, left to right (indices into <paramref name="images"/>).</param>
    public static string Write(ImageDataset images, IReadOnlyList<int[]> rows, string path, int cell = 56, int gap = 4) =>
        Write(rows.Select(r => r.Select(i => (images, i)).ToArray()).ToList(), path, cell, gap);

    /// <param name="rows">Each row: (dataset, index) of the images to show, left to right.</param>
    public static string Write(IReadOnlyList<(ImageDataset Images, int Index)[]> rows, string path, int cell = 56, int gap = 4)
    {
        int columns = Math.Max(1, rows.Max(r => r.Length));
        int width = columns * (cell + gap) + gap, height = rows.Count * (cell + gap) + gap;
        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var paint = new SKPaint();
        var sampling = new SKSamplingOptions(SKFilterMode.Nearest);
        for (int r = 0; r < rows.Count; r++)
            for (int c = 0; c < rows[r].Length; c++)
            {
                using var bitmap = ToBitmap(rows[r][c].Images, rows[r][c].Index);
                using var image = SKImage.FromBitmap(bitmap);
                canvas.DrawImage(image, SKRect.Create(gap + c * (cell + gap), gap + r * (cell + gap), cell, cell), sampling, paint);
            }
        using var snapshot = surface.Snapshot();
        using var png = snapshot.Encode(SKEncodedImageFormat.Png, 100);
        var temporary = path + ".tmp";
        using (var file = File.Create(temporary)) png.SaveTo(file);
        File.Move(temporary, path, overwrite: true);
        return path;
    }

    /// <summary>One image of the data set as an RGBA bitmap (grey repeated into the three channels).</summary>
    internal static SKBitmap ToBitmap(ImageDataset images, int index)
    {
        var bitmap = new SKBitmap(images.Width, images.Height, SKColorType.Rgba8888, SKAlphaType.Premul);
        int plane = images.Width * images.Height, offset = index * images.ImageBytes;
        var pixels = new byte[plane * 4];
        for (int p = 0; p < plane; p++)
        {
            byte red = images.Pixels[offset + p];
            byte green = images.Channels == 3 ? images.Pixels[offset + plane + p] : red;
            byte blue = images.Channels == 3 ? images.Pixels[offset + 2 * plane + p] : red;
            pixels[p * 4] = red; pixels[p * 4 + 1] = green; pixels[p * 4 + 2] = blue; pixels[p * 4 + 3] = 255;
        }
        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
        return bitmap;
    }
}
