using SkiaSharp;

namespace Contramask.Data;

/// <summary>
/// Decodes one image file with SkiaSharp (PNG, JPEG, BMP, WebP, GIF) as training reads it: alpha composited over
/// black, optionally resized (shorter side to the size, Mitchell cubic) and center-cropped to a square. Used by
/// <c>ImageFolderReader</c> for training data and by Contramask.Inference for new images, so both see the same pixels.
/// </summary>
public static class ImageDecoder
{
    public static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif"];
    /// <summary>Refuse images with more pixels than this before decoding (decompression bombs).</summary>
    public const long MaxPixels = 64L * 1024 * 1024;

    /// <summary>Decodes one file to interleaved RGB (alpha composited over black), resized and center-cropped if asked.</summary>
    public static DecodedImage Decode(string path, int? size)
    {
        if (!File.Exists(path)) throw new DataFormatException(path, "file not found");
        if (new FileInfo(path).Length == 0) throw new DataFormatException(path, "empty file (0 bytes)");
        using var codec = SKCodec.Create(path, out var result);
        if (codec is null) throw new DataFormatException(path, $"cannot decode as an image ({result})");
        return Decode(codec, path, size);
    }

    /// <summary>As <see cref="Decode(string, int?)"/> for an image's encoded bytes (an upload); <paramref name="name"/> names it in errors.</summary>
    public static DecodedImage Decode(byte[] encoded, string name, int? size)
    {
        if (encoded.Length == 0) throw new DataFormatException(name, "empty image (0 bytes)");
        using var codec = SKCodec.Create(new MemoryStream(encoded, writable: false), out var result);
        if (codec is null) throw new DataFormatException(name, $"cannot decode as an image ({result})");
        return Decode(codec, name, size);
    }

    static DecodedImage Decode(SKCodec codec, string path, int? size)
    {
        var info = codec.Info;
        if ((long)info.Width * info.Height > MaxPixels)
            throw new DataFormatException(path, $"image is {info.Width}×{info.Height}, above the {MaxPixels:N0}-pixel limit");
        using var bitmap = new SKBitmap(new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Premul));
        var status = codec.GetPixels(bitmap.Info, bitmap.GetPixels());
        if (status != SKCodecResult.Success)
            throw new DataFormatException(path, $"cannot decode as an image ({status})");
        if (size is not int side) return DecodedImage.From(bitmap);
        double scale = (double)side / Math.Min(info.Width, info.Height);
        int w = Math.Max(side, (int)Math.Round(info.Width * scale)), h = Math.Max(side, (int)Math.Round(info.Height * scale));
        using var resized = bitmap.Resize(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Premul), new SKSamplingOptions(SKCubicResampler.Mitchell));
        using var cropped = new SKBitmap(side, side, SKColorType.Rgba8888, SKAlphaType.Premul);
        resized.ExtractSubset(cropped, SKRectI.Create((w - side) / 2, (h - side) / 2, side, side));
        return DecodedImage.From(cropped);
    }
}

/// <summary>Interleaved RGB bytes of one decoded image.</summary>
public sealed class DecodedImage(byte[] rgb, int width, int height)
{
    public int Width => width;
    public int Height => height;
    public bool IsGrey { get; } = CheckGrey(rgb);

    public static DecodedImage From(SKBitmap bitmap)
    {
        var rgba = bitmap.GetPixelSpan();
        int count = bitmap.Width * bitmap.Height;
        var rgb = new byte[count * 3];
        for (int p = 0; p < count; p++)
        {
            rgb[3 * p] = rgba[4 * p]; rgb[3 * p + 1] = rgba[4 * p + 1]; rgb[3 * p + 2] = rgba[4 * p + 2];
        }
        return new DecodedImage(rgb, bitmap.Width, bitmap.Height);
    }

    static bool CheckGrey(byte[] rgb)
    {
        for (int p = 0; p < rgb.Length; p += 3)
            if (rgb[p] != rgb[p + 1] || rgb[p] != rgb[p + 2]) return false;
        return true;
    }

    /// <summary>Writes planar C×H×W bytes (grey = BT.601 luma) at <paramref name="offset"/>.</summary>
    public void CopyPlanes(byte[] target, int offset, int channels)
    {
        int count = width * height;
        for (int p = 0; p < count; p++)
        {
            if (channels == 1)
                target[offset + p] = (byte)Math.Round(0.299 * rgb[3 * p] + 0.587 * rgb[3 * p + 1] + 0.114 * rgb[3 * p + 2]);
            else
                for (int c = 0; c < 3; c++) target[offset + c * count + p] = rgb[3 * p + c];
        }
    }
}
