using System.Text.Json;
using System.Text.RegularExpressions;
using Contramask.Cli;
using Contramask.Data;
using Contramask.Mining;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Interactions;
using OpenQA.Selenium.Support.UI;
using SkiaSharp;

namespace Contramask.Tests;

/// <summary>A 1-epoch contrastive run on the digits, mined with duplicates and label issues: its explorer.html.</summary>
public sealed class MinedRunFixture
{
    // Built once for both test classes that use it.
    static readonly Lazy<(string Folder, string Page, JsonElement Data)> Built = new(Build);

    public MinedRunFixture() => (Folder, Page, Data) = Built.Value;

    static (string, string, JsonElement) Build()
    {
        var folder = Path.Combine(Fixture.TempFolder(), "run");
        Check(CliApp.Run(["pretrain", "--data", "digits", "--method", "contrastive", "--epochs", "1", "--batch-size", "64", "--out", folder, "--quiet", "--no-eval", "--threads", "2"]));
        Check(CliApp.Run(["mine", "--run", folder, "--k", "10", "--map-sample", "300", "--duplicates", "--label-issues", "--quiet"]));
        var page = Path.Combine(folder, "mining", "explorer.html");
        var html = File.ReadAllText(page);
        var json = Regex.Match(html, "<script id=\"explorer-data\" type=\"application/json\">(.*?)</script>", RegexOptions.Singleline).Groups[1].Value;
        return (folder, page, JsonDocument.Parse(json).RootElement.Clone());
    }

    static void Check(int exit) { if (exit != 0) throw new InvalidOperationException($"contramask exited with {exit}"); }

    public string Folder { get; }
    public string Page { get; }
    /// <summary>The data the page carries.</summary>
    public JsonElement Data { get; }
    public string Id(int item) => Data.GetProperty("items").GetProperty("id")[item].GetString()!;
}

/// <summary>explorer.html without a browser: self-contained, and what it carries is what mining found.</summary>
[Collection("console")]
public class ExplorerContentTests(MinedRunFixture run) : IClassFixture<MinedRunFixture>
{
    [Fact]
    public void The_page_is_self_contained_and_linked_from_the_report()
    {
        var html = File.ReadAllText(run.Page);
        // Nothing fetched from elsewhere: no remote script, style, image or font.
        Assert.DoesNotMatch(new Regex(@"(src|href)\s*=\s*[""']?(https?:)?//", RegexOptions.IgnoreCase), html);
        Assert.DoesNotContain("@import", html);
        Assert.Contains("[explorer.html](mining/explorer.html)", File.ReadAllText(Path.Combine(run.Folder, "report.md")));
        Assert.Contains("explorer.html", File.ReadAllText(Path.Combine(run.Folder, "mining", "mining.json")));
    }

    [Fact]
    public void The_map_points_and_their_neighbours_are_those_mining_wrote()
    {
        var data = run.Data;
        int m = data.GetProperty("map_count").GetInt32();
        Assert.Equal(300, m);
        var map = File.ReadAllLines(Path.Combine(run.Folder, "mining", "map.csv")).Skip(1).Select(l => l.Split(',')).ToArray();
        Assert.Equal(map.Select(f => f[0]), Enumerable.Range(0, m).Select(run.Id));
        var x = data.GetProperty("x").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.All(Enumerable.Range(0, m), i => Assert.Equal(double.Parse(map[i][1], System.Globalization.CultureInfo.InvariantCulture), x[i], 0.0011));

        // The neighbours of a map point equal an exact search over all 1,797 embeddings.
        var table = EmbeddingExport.Embed(run.Folder, DigitsDataset.LoadAll());
        var rowOf = table.Ids.Select((id, row) => (id, row)).ToDictionary(p => p.id, p => p.row);
        using var points = table.ToTensor();
        var queries = new[] { 0, 17, 299 };
        var (truth, _) = NearestNeighbours.Find(points, Explorer.Neighbours, queries.Select(q => rowOf[run.Id(q)]).ToArray());
        for (int n = 0; n < queries.Length; n++)
        {
            // As sets: records at equal similarity (identical digits) may come in either order.
            var listed = data.GetProperty("neighbours")[queries[n]].EnumerateArray().Select(p => run.Id(p[0].GetInt32())).Order().ToArray();
            Assert.Equal(truth[n].Select(r => table.Ids[r]).Order(), listed);
        }
        // Clusters, duplicates and label issues as in mining.json.
        using var mining = JsonDocument.Parse(File.ReadAllText(Path.Combine(run.Folder, "mining", "mining.json")));
        Assert.Equal(mining.RootElement.GetProperty("k").GetInt32(), data.GetProperty("clusters").GetArrayLength());
        Assert.Equal(mining.RootElement.GetProperty("duplicates").GetProperty("groups").GetInt32(), data.GetProperty("duplicates").GetProperty("groups_total").GetInt32());
        Assert.Equal(mining.RootElement.GetProperty("label_issues").GetProperty("flagged").GetInt32(), data.GetProperty("label_issues").GetProperty("flagged").GetInt32());
        Assert.Equal(mining.RootElement.GetProperty("outliers")[0].GetProperty("id").GetString(), run.Id(data.GetProperty("outliers")[0].GetInt32()));
    }

    [Fact]
    public void Every_item_has_its_own_thumbnail_in_the_atlas()
    {
        var atlas = run.Data.GetProperty("atlas");
        var src = atlas.GetProperty("src").GetString()!;
        Assert.StartsWith("data:image/png;base64,", src);
        using var bitmap = SKBitmap.Decode(Convert.FromBase64String(src["data:image/png;base64,".Length..]));
        int cw = atlas.GetProperty("cell_width").GetInt32(), ch = atlas.GetProperty("cell_height").GetInt32(), columns = atlas.GetProperty("columns").GetInt32();
        Assert.Equal((8, 8), (cw, ch));   // the digits are 8×8: kept at their size
        Assert.Equal(atlas.GetProperty("width").GetInt32(), bitmap.Width);
        int items = run.Data.GetProperty("items").GetProperty("id").GetArrayLength();
        Assert.True(columns * (bitmap.Height / ch) >= items);
        // Item 5's cell holds item 5's digit.
        var digits = DigitsDataset.LoadAll();
        int index = int.Parse(run.Id(5).Split(':')[1]);
        int x0 = 5 % columns * cw, y0 = 5 / columns * ch;
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++)
                Assert.Equal(digits.Pixels[index * 64 + y * 8 + x], bitmap.GetPixel(x0 + x, y0 + y).Red);
    }

    [Fact]
    public void Table_rows_are_shown_with_their_values_decoded()
    {
        var data = DataSpec.Parse($"csv:{Fixture.Path("tables", "mixed.csv")},label=label,id=id,split=30,val=0").LoadTable();
        var train = data.Train;
        var r0 = train.Describe(0);
        var names = train.Schema.Features.Select(f => f.Name).ToList();
        Assert.Equal("20", r0[names.IndexOf("age")]);
        Assert.Equal("Lyon", r0[names.IndexOf("city")]);
        Assert.Equal("1971.5", r0[names.IndexOf("income")]);
        Assert.Equal("", train.Describe(3)[names.IndexOf("age")]);   // r3 has no age

        var random = new Random(3);
        var vectors = Enumerable.Range(0, train.Count * 8).Select(_ => (float)random.NextDouble()).ToArray();
        var table = new EmbeddingTable(Enumerable.Range(0, train.Count).Select(train.RecordId).ToArray(), train.Labels!, vectors, 8, train.ClassNames);
        var folder = Fixture.TempFolder();
        Miner.Run(table, folder, new MiningOptions { K = 2, MapSample = 20 }, new RecordLookup([train]));
        var html = File.ReadAllText(Path.Combine(folder, "explorer.html"));
        var json = JsonDocument.Parse(Regex.Match(html, "application/json\">(.*?)</script>", RegexOptions.Singleline).Groups[1].Value).RootElement;
        Assert.Equal("table", json.GetProperty("kind").GetString());
        Assert.Equal(names, json.GetProperty("columns").EnumerateArray().Select(c => c.GetString()));
        // Every item's values are its row's, decoded.
        var ids = json.GetProperty("items").GetProperty("id").EnumerateArray().Select(i => i.GetString()!).ToList();
        var rowOf = Enumerable.Range(0, train.Count).ToDictionary(train.RecordId);
        Assert.Equal(20, json.GetProperty("map_count").GetInt32());
        Assert.All(ids.Select((id, item) => (id, item)), p =>
            Assert.Equal(train.Describe(rowOf[p.id]), json.GetProperty("items").GetProperty("values")[p.item].EnumerateArray().Select(v => v.GetString())));
        Assert.Equal(JsonValueKind.Null, json.GetProperty("atlas").ValueKind);
    }
}

/// <summary>
/// explorer.html in a real browser: Debian's headless Chromium driven by Selenium (chromium and chromium-driver are
/// installed by build/test-tools.sh). Loads the page from disk, hovers, clicks, zooms and asserts what is shown.
/// </summary>
[Collection("console")]
public sealed class ExplorerBrowserTests : IClassFixture<MinedRunFixture>, IDisposable
{
    readonly MinedRunFixture run;
    readonly ChromeDriver driver;

    public ExplorerBrowserTests(MinedRunFixture run)
    {
        this.run = run;
        var service = ChromeDriverService.CreateDefaultService("/usr/bin", "chromedriver");
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = "/usr/bin/chromium" };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800",
            "--force-device-scale-factor=1", "--no-first-run", "--disable-extensions");
        driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        try
        {
            driver.Navigate().GoToUrl(new Uri(run.Page).AbsoluteUri);
            new WebDriverWait(driver, TimeSpan.FromSeconds(20)).Until(d => d.FindElement(By.TagName("body")).GetAttribute("data-ready") == "true");
        }
        catch
        {
            // xunit does not dispose a test class whose constructor threw: the browser would stay behind.
            driver.Quit();
            throw;
        }
    }

    public void Dispose() => driver.Quit();

    object? Script(string code, params object[] args) => ((IJavaScriptExecutor)driver).ExecuteScript(code, args);

    /// <summary>Where map point <paramref name="item"/> is drawn, in viewport pixels.</summary>
    (int X, int Y) PointOnScreen(int item)
    {
        var p = (IReadOnlyCollection<object>)Script("const r = document.getElementById('map').getBoundingClientRect(); const [x, y] = explorer.screenPosition(arguments[0]); return [r.left + x, r.top + y];", item)!;
        var xy = p.Select(Convert.ToDouble).ToArray();
        return ((int)Math.Round(xy[0]), (int)Math.Round(xy[1]));
    }

    /// <summary>A map point with no other point within 6 pixels, so that hovering it cannot pick a neighbour instead,
    /// and not covered by the legend.</summary>
    int IsolatedPoint() => Convert.ToInt32(Script("""
        const m = explorer.data.map_count, canvas = document.getElementById('map'), r = canvas.getBoundingClientRect();
        for (let i = 0; i < m; i++) {
          const [x, y] = explorer.screenPosition(i);
          // Not under the legend, and with room around it.
          let alone = x > 20 && y > 20 && document.elementFromPoint(r.left + x, r.top + y) === canvas;
          for (let j = 0; j < m && alone; j++) { if (j === i) continue; const [u, v] = explorer.screenPosition(j); if ((u - x) ** 2 + (v - y) ** 2 < 36) alone = false; }
          if (alone) return i;
        }
        return -1;
        """));

    List<string> Errors() => ((IReadOnlyCollection<object>)Script("return window.explorerErrors")!).Select(e => e.ToString()!).ToList();

    [Fact]
    public void Hovering_a_point_shows_its_thumbnail_and_facts()
    {
        Assert.Empty(Errors());
        int item = IsolatedPoint();
        Assert.True(item >= 0);
        var (x, y) = PointOnScreen(item);
        new Actions(driver).MoveToLocation(x, y).Perform();
        var tooltip = driver.FindElement(By.Id("tooltip"));
        Assert.True(tooltip.Displayed);
        Assert.Equal(item.ToString(), tooltip.GetAttribute("data-item"));
        Assert.Contains(run.Id(item), tooltip.Text);
        var thumb = tooltip.FindElement(By.CssSelector(".thumb"));
        Assert.Equal(item.ToString(), thumb.GetAttribute("data-item"));
        Assert.Contains("blob:", thumb.GetCssValue("background-image"));
        Assert.Equal("24px", thumb.GetCssValue("width"));   // 8 px cell ×3

        new Actions(driver).MoveToLocation(2, 2).Perform();   // onto the header: leaving the map hides the tooltip
        Assert.False(tooltip.Displayed);
        Assert.Empty(Errors());
    }

    [Fact]
    public void Clicking_a_point_lists_its_nearest_neighbours_and_a_neighbour_can_be_followed()
    {
        int item = IsolatedPoint();
        var (x, y) = PointOnScreen(item);
        new Actions(driver).MoveToLocation(x, y).Click().Perform();
        var expected = run.Data.GetProperty("neighbours")[item].EnumerateArray().Select(p => run.Id(p[0].GetInt32())).ToList();
        var listed = driver.FindElements(By.CssSelector("#neighbour-list .neighbour")).Select(e => e.FindElement(By.CssSelector(".id")).Text).ToList();
        Assert.Equal(Explorer.Neighbours, listed.Count);
        Assert.Equal(expected, listed);
        Assert.Equal(item.ToString(), driver.FindElement(By.Id("selected")).GetAttribute("data-item"));

        driver.FindElements(By.CssSelector("#neighbour-list .neighbour"))[0].Click();
        int first = run.Data.GetProperty("neighbours")[item][0][0].GetInt32();
        Assert.Equal(first.ToString(), driver.FindElement(By.Id("selected")).GetAttribute("data-item"));
        Assert.Contains(run.Id(first), driver.FindElement(By.Id("selected")).Text);
        Assert.Empty(Errors());
    }

    [Fact]
    public void The_wheel_zooms_about_the_cursor_and_dragging_pans()
    {
        var canvas = driver.FindElement(By.Id("map"));
        int item = IsolatedPoint();
        var (x, y) = PointOnScreen(item);
        new Actions(driver).ScrollFromOrigin(new WheelInputDevice.ScrollOrigin { Viewport = true, XOffset = x, YOffset = y }, 0, -400).Perform();
        new WebDriverWait(driver, TimeSpan.FromSeconds(5)).Until(_ => Convert.ToDouble(Script("return explorer.state().scale")) > 1.5);
        // The point under the cursor stays under it.
        var (x2, y2) = PointOnScreen(item);
        Assert.True(Math.Abs(x2 - x) <= 2 && Math.Abs(y2 - y) <= 2, $"({x},{y}) moved to ({x2},{y2})");

        new Actions(driver).MoveToLocation(400, 400).ClickAndHold().MoveByOffset(60, 30).MoveByOffset(40, 20).Release().Perform();
        var (x3, y3) = PointOnScreen(item);
        Assert.Equal((x2 + 100, y2 + 50), (x3, y3));
        driver.FindElement(By.Id("reset")).Click();
        Assert.Equal(1.0, Convert.ToDouble(Script("return explorer.state().scale")));
        _ = canvas;
        Assert.Empty(Errors());
    }

    [Fact]
    public void Colouring_and_panels_show_clusters_outliers_duplicates_and_label_issues()
    {
        var colour = new SelectElement(driver.FindElement(By.Id("colour-by")));
        Assert.Equal(["label", "cluster", "outlier score", "near-duplicate", "label issue"], colour.Options.Select(o => o.Text));
        Assert.Equal(10, driver.FindElements(By.CssSelector("#legend div")).Count);   // ten digit classes
        colour.SelectByValue("cluster");
        Assert.Equal("cluster", driver.FindElement(By.Id("legend")).GetAttribute("data-mode"));
        Assert.Equal(run.Data.GetProperty("clusters").GetArrayLength(), driver.FindElements(By.CssSelector("#legend div")).Count);

        driver.FindElement(By.CssSelector("#tabs button[data-panel=clusters]")).Click();
        var clusters = driver.FindElements(By.CssSelector("#panel-clusters .cluster"));
        Assert.Equal(10, clusters.Count);
        clusters[0].Click();
        int size0 = Enumerable.Range(0, 300).Count(i => run.Data.GetProperty("items").GetProperty("cluster")[i].GetInt32() == run.Data.GetProperty("clusters")[0].GetProperty("cluster").GetInt32());
        Assert.Equal(size0, Convert.ToInt32(Script("return explorer.state().highlighted")));

        driver.FindElement(By.CssSelector("#tabs button[data-panel=outliers]")).Click();
        var outliers = driver.FindElements(By.CssSelector("#panel-outliers .outlier"));
        Assert.Equal(Math.Min(Explorer.PanelOutliers, 1797), outliers.Count);
        Assert.Contains(run.Id(run.Data.GetProperty("outliers")[0].GetInt32()), outliers[0].Text);

        driver.FindElement(By.CssSelector("#tabs button[data-panel=duplicates]")).Click();
        var duplicates = run.Data.GetProperty("duplicates").GetProperty("groups");
        Assert.Equal(duplicates.GetArrayLength(), driver.FindElements(By.CssSelector("#panel-duplicates .duplicate")).Count);

        driver.FindElement(By.CssSelector("#tabs button[data-panel='label-issues']")).Click();
        var issues = driver.FindElements(By.CssSelector("#panel-label-issues .label-issue"));
        var top = run.Data.GetProperty("label_issues").GetProperty("top");
        Assert.Equal(top.GetArrayLength(), issues.Count);
        Assert.True(issues.Count > 0);
        Assert.Contains($"given {top[0].GetProperty("given").GetString()}", issues[0].Text);
        issues[0].Click();   // a flagged record opens in the Selected panel
        Assert.Equal(top[0].GetProperty("item").GetInt32().ToString(), driver.FindElement(By.Id("selected")).GetAttribute("data-item"));
        Assert.True(driver.FindElement(By.Id("panel-selected")).Displayed);
        Assert.Empty(Errors());
    }
}
