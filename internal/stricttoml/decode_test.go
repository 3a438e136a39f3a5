package stricttoml

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

type text struct{ s string }

func (t *text) UnmarshalText(b []byte) error {
	if string(b) == "bad" {
		return errors.New("bad text")
	}
	t.s = string(b)
	return nil
}

type sub struct {
	N int `toml:"n"`
}

type conf struct {
	Name  string            `toml:"name"`
	Ports []int             `toml:"ports"`
	Env   map[string]string `toml:"env"`
	Wait  time.Duration     `toml:"wait"`
	Text  text              `toml:"text"`
	Sub   sub               `toml:"sub"`
	Subs  []sub             `toml:"subs"`
	Opt   *sub              `toml:"opt"`
	Any   any               `toml:"any"`
}

// decode returns what the Decoder reports, one "path: kind detail" a line.
func decode(t *testing.T, src string, configure func(*Decoder)) (conf, []string) {
	t.Helper()
	doc, err := Parse("t.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	d := &Decoder{Doc: doc, Report: func(path string, err error) {
		p := doc.Index.Lookup(path)
		var (
			uk *UnknownKeyError
			te *TypeError
			ve *ValueError
		)
		switch {
		case errors.As(err, &uk):
			got = append(got, fmt.Sprintf("%d:%d %s: unknown %q folded %q", p.Line, p.Col, path, uk.Key, uk.Folded))
		case errors.As(err, &te):
			got = append(got, fmt.Sprintf("%d:%d %s: type field %v got %T, inner %v got %T", p.Line, p.Col, path, te.Type, te.Value, te.Want, te.Got))
		case errors.As(err, &ve):
			got = append(got, fmt.Sprintf("%d:%d %s: value %s", p.Line, p.Col, path, ve.Msg))
		}
	}, Present: map[string]bool{}}
	if configure != nil {
		configure(d)
	}
	var c conf
	d.Fields(doc.Top, reflect.ValueOf(&c).Elem(), "")
	d.Undecoded(func(p string) bool { return false })
	sort.Strings(got)
	return c, got
}

func TestDecoderGood(t *testing.T) {
	c, errs := decode(t, `name = "x"
ports = [80, 443]
env = { A = "b" }
wait = "2s"
text = "hello"
any = { x = 1 }
[sub]
n = 3
[[subs]]
n = 1
[[subs]]
n = 2
[opt]
n = 4
`, nil)
	if len(errs) > 0 {
		t.Fatalf("errors: %q", errs)
	}
	if c.Name != "x" || !reflect.DeepEqual(c.Ports, []int{80, 443}) || c.Env["A"] != "b" || c.Wait != 2*time.Second ||
		c.Text.s != "hello" || c.Sub.N != 3 || len(c.Subs) != 2 || c.Subs[1].N != 2 || c.Opt == nil || c.Opt.N != 4 {
		t.Errorf("decoded %+v", c)
	}
}

func TestDecoderReportsEveryProblem(t *testing.T) {
	src := `name = 1
ports = [80, "x"]
  nmae = "typo"
text = "bad"
sub = 3
[[subs]]
n = 1
colour = "blue"
[[subs]]
n = "two"
[Opt]
n = 1
[extra]
deep = 1
`
	_, got := decode(t, src, nil)
	want := []string{
		`10:1 subs[1].n: type field int got string, inner int got string`,
		`11:1 Opt: unknown "Opt" folded ""`,
		`13:1 extra: unknown "extra" folded ""`,
		`1:1 name: type field string got int64, inner string got int64`,
		`2:1 ports: type field []int got []interface {}, inner int got string`,
		`3:3 nmae: unknown "nmae" folded ""`,
		`4:1 text: value bad text`,
		`5:1 sub: type field stricttoml.sub got int64, inner stricttoml.sub got int64`,
		`8:1 subs[0].colour: unknown "colour" folded ""`,
		// Under keys the Decoder never took, BurntSushi's Undecoded
		// lists the rest; the caller decides what is already said.
		`12:1 Opt.n: unknown "n" folded ""`,
		`14:1 extra.deep: unknown "deep" folded ""`,
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Fold takes a key that differs only in case, and reports it.
	c, got := decode(t, "[Opt]\nN = 5\n", func(d *Decoder) { d.Fold = true })
	if c.Opt == nil || c.Opt.N != 5 || len(got) != 2 || !strings.Contains(got[0], `folded "opt"`) || !strings.Contains(got[1], `folded "n"`) {
		t.Errorf("fold: %+v %q", c.Opt, got)
	}

	// TextFromString refuses a number for a text field.
	_, got = decode(t, "text = 5\n", func(d *Decoder) { d.TextFromString = true })
	if len(got) != 1 || !strings.Contains(got[0], "text: type") {
		t.Errorf("text from a number: %q", got)
	}
}

func TestParseSyntaxError(t *testing.T) {
	_, err := Parse("bad.toml", []byte("a = 1\nb = \"open\n"))
	var e *Error
	if !errors.As(err, &e) || e.Line != 2 || e.Col < 2 || e.Field != "" {
		t.Fatalf("err = %#v", err)
	}
	if got := e.Error(); !strings.HasPrefix(got, "bad.toml:2:") {
		t.Errorf("Error() = %q", got)
	}
}
