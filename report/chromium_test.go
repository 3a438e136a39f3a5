package report

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHTMLInChromium renders the page in headless Chromium, as a person
// would see it: the DOM Chromium builds holds the chart, and a screenshot
// of the page is not blank.
func TestHTMLInChromium(t *testing.T) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("headless Chromium not found: apt-get install chromium enables this test")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var b bytes.Buffer
	if err := Render(&b, load(t, "passed"), "html"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	chromium := func(args ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
			"--user-data-dir=" + filepath.Join(dir, "profile")}, args...)
		cmd := exec.CommandContext(ctx, bin, append(args, "file://"+page)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %v: %v\n%s", bin, args, err, errb.String())
		}
		return out.Bytes()
	}

	dom := string(chromium("--dump-dom"))
	for _, want := range []string{`<svg class="timeline"`, `<polyline class="latency"`, `class="recovered"`, `class="threshold"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("Chromium's DOM lacks %s", want)
		}
	}

	shot := filepath.Join(dir, "shot.png")
	chromium("--window-size=1000,900", "--screenshot="+shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// The chart's fault shading is orange: count pixels where red clearly
	// beats blue, which the page has nowhere else in this size but the
	// chart (and the legend swatch).
	bounds := img.Bounds()
	orange, inked := 0, 0
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				inked++
			}
			if r > bl+0x2000 && g > bl && r > g {
				orange++
			}
		}
	}
	total := bounds.Dx() * bounds.Dy()
	if inked < total/50 {
		t.Errorf("screenshot nearly blank: %d of %d pixels inked", inked, total)
	}
	if orange < 50 {
		t.Errorf("screenshot shows no fault shading (%d orange pixels)", orange)
	}
}
