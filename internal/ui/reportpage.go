package ui

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"regexp"
	"strings"

	"github.com/chaosctl/chaosctl/report"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

var (
	styleBlock = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
	styleAttr  = regexp.MustCompile(`style="([^"]*)"`)
)

// reportCSP allows the report's own inline styles by their hashes (the
// report is a self-contained page, mailed as is) and no script at all.
func reportCSP(page []byte) string {
	var hashes []string
	seen := map[string]bool{}
	add := func(s string) {
		sum := sha256.Sum256([]byte(s))
		h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if !seen[h] {
			seen[h] = true
			hashes = append(hashes, h)
		}
	}
	for _, m := range styleBlock.FindAllSubmatch(page, -1) {
		add(string(m[1]))
	}
	for _, m := range styleAttr.FindAllSubmatch(page, -1) {
		add(html.UnescapeString(string(m[1])))
	}
	return "default-src 'none'; script-src 'none'; style-src 'self' 'unsafe-hashes' " + strings.Join(hashes, " ") +
		"; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// pageReport is the run's HTML report (report.Render), with the
// dashboard's bar (HALT, the halted state, navigation) on top.
func (h *Handler) pageReport(w http.ResponseWriter, r *http.Request, s *session) {
	j, err := h.api.Run(r.Context(), r.PathValue("id"))
	if err != nil {
		h.apiError(w, r, s, err)
		return
	}
	var rep bytes.Buffer
	if err := report.Render(&rep, j, "html"); err != nil {
		h.log.Error().Err(err).Str("run_id", j.RunID).Msg("render report")
		http.Error(w, "report could not be rendered", http.StatusInternalServerError)
		return
	}
	p := page{Title: "Report", CSRF: s.csrf, Path: r.URL.Path}
	if st, err := h.api.Status(r.Context()); err != nil {
		p.DaemonErr = err.Error()
	} else {
		p.Halted, p.Active = st.Halted, st.Active
	}
	var bar bytes.Buffer
	if err := h.pages["error"].ExecuteTemplate(&bar, "bar", p); err != nil {
		h.log.Error().Err(err).Msg("render bar")
		http.Error(w, "page could not be rendered", http.StatusInternalServerError)
		return
	}
	out := rep.Bytes()
	out = bytes.Replace(out, []byte("</head>"), []byte(`<link rel="stylesheet" href="/assets/app.css"></head>`), 1)
	out = bytes.Replace(out, []byte("<body>"), append([]byte("<body>"), bar.Bytes()...), 1)
	w.Header().Set("Content-Security-Policy", reportCSP(out))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(out)
}
