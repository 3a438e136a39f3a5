package stricttoml

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
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
		p := doc.Pos.Lookup(path)
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

// unmarshaled takes any TOML value through UnmarshalTOML.
type unmarshaled struct{ v any }

func (u *unmarshaled) UnmarshalTOML(v any) error {
	if v == "refuse" {
		return errors.New("refused")
	}
	u.v = v
	return nil
}

type kinds struct {
	I8    int8              `toml:"i8"`
	U16   uint16            `toml:"u16"`
	U     uint              `toml:"u"`
	F32   float32           `toml:"f32"`
	F     float64           `toml:"f"`
	B     bool              `toml:"b"`
	D     time.Duration     `toml:"d"`
	DN    time.Duration     `toml:"dn"`
	T     text              `toml:"t"`
	TN    text              `toml:"tn"`
	When  time.Time         `toml:"when"`
	PF    *float64          `toml:"pf"`
	Arr   [2]string         `toml:"arr"`
	Grid  [][]int           `toml:"grid"`
	M     map[string]int    `toml:"m"`
	MS    map[string]sub    `toml:"ms"`
	Any   []any             `toml:"any"`
	Un    unmarshaled       `toml:"un"`
	Empty map[string]string `toml:"empty"`
}

// TestDecoderPutsValuesAsBurntSushi: what the Decoder puts into each kind
// of field is what toml.Decode puts there, and a value toml.Decode refuses
// is refused with its words.
func TestDecoderPutsValuesAsBurntSushi(t *testing.T) {
	good := `i8 = -128
u16 = 65535
u = 7
f32 = 1.5
f = 3
b = true
d = "1m30s"
dn = 250
t = "x"
tn = 12
when = 1979-05-27T07:32:00Z
pf = 2.5
arr = ["a", "b"]
grid = [[1, 2], [3]]
m = { a = 1, b = 2 }
ms = { x = { n = 1 } }
any = [1, "two", { three = 3 }]
un = { deep = [1] }
empty = {}
`
	var want kinds
	if _, err := toml.Decode(good, &want); err != nil {
		t.Fatal(err)
	}
	doc, err := Parse("k.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	var got kinds
	var problems []string
	d := &Decoder{Doc: doc, Report: func(path string, err error) { problems = append(problems, path+": "+err.Error()) }}
	d.Fields(doc.Top, reflect.ValueOf(&got).Elem(), "")
	d.Undecoded(func(string) bool { return false })
	if len(problems) > 0 {
		t.Fatalf("problems: %q", problems)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n%+v\nBurntSushi\n%+v", got, want)
	}

	for _, c := range []struct{ src, path, msg string }{
		{"i8 = 128", "i8", "128 is out of range for int8"},
		{"u16 = -1", "u16", "-1 is out of range for uint16"},
		{"f32 = 1e39", "f32", "1e+39 is out of range for float32"},
		{"f = 9007199254740993", "f", "9007199254740993 is out of the safe float64 range"},
		{`d = "soon"`, "d", `invalid duration: "soon"`},
		{`t = "bad"`, "t", "bad text"},
		{`arr = ["a"]`, "arr", "expected array length 2; got TOML array of length 1"},
		{`un = "refuse"`, "un", "refused"},
	} {
		var bs kinds
		_, bsErr := toml.Decode(c.src, &bs)
		var pe toml.ParseError
		if !errors.As(bsErr, &pe) && !strings.Contains(fmt.Sprint(bsErr), c.msg) {
			t.Errorf("%s: BurntSushi says %v, want %q", c.src, bsErr, c.msg)
		}
		if pe.Message != "" && pe.Message != c.msg {
			t.Errorf("%s: BurntSushi says %q, want %q", c.src, pe.Message, c.msg)
		}
		doc, err := Parse("k.toml", []byte(c.src))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		var k kinds
		d := &Decoder{Doc: doc, Report: func(path string, err error) {
			var ve *ValueError
			if errors.As(err, &ve) {
				got = append(got, path+": "+ve.Msg)
			} else {
				got = append(got, fmt.Sprintf("%s: %T", path, err))
			}
		}}
		d.Fields(doc.Top, reflect.ValueOf(&k).Elem(), "")
		if want := c.path + ": " + c.msg; len(got) != 1 || got[0] != want {
			t.Errorf("%s: reported %q, want %q", c.src, got, want)
		}
	}
}
