package productpage

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"strconv"
)

// The templates reproduce the markers of upstream's current (Tailwind, 2024+) productpage
// template that Istio's docs, tests and meshlab's verify look for: the title, "Book Details",
// "Book Reviews", the stars div "flex gap-x-1 text-<color>-500" with one
// id="glyphicon glyphicon-star" SVG per full star and id-less SVGs for empty ones, the rating
// error paragraph, the error headings and texts, the navbar user and the sign-in button.
//
//go:embed templates/*.html
var templateFiles embed.FS

// product is the one book productpage knows.
type product struct {
	ID              int    `json:"id"`
	Title           string `json:"title"`
	DescriptionHTML string `json:"descriptionHtml"`
}

func products() []product {
	return []product{{
		ID:    0,
		Title: "The Comedy of Errors",
		DescriptionHTML: `<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: ` +
			`The Comedy of Errors is one of <b>William Shakespeare's</b> early plays. It is his shortest and one of ` +
			`his most farcical comedies, with a major part of the humour coming from slapstick and mistaken ` +
			`identity, in addition to puns and word play.`,
	}}
}

// reviewsDoc is the part of the reviews reply the page shows.
type reviewsDoc struct {
	PodName     string   `json:"podname"`
	ClusterName string   `json:"clustername"`
	Reviews     []review `json:"reviews"`
}

type review struct {
	Reviewer string  `json:"reviewer"`
	Text     string  `json:"text"`
	Rating   *rating `json:"rating"`
}

type rating struct {
	Stars json.Number `json:"stars"`
	Color string      `json:"color"`
	Error string      `json:"error"`
}

// pageData is what the template sees.
type pageData struct {
	User         string
	Product      product
	Description  template.HTML // upstream does not escape descriptionHtml
	DetailsOK    bool
	Details      map[string]string
	DetailsError string
	ReviewsOK    bool
	Reviews      reviewsDoc
	ReviewsError string
}

// pageRenderer holds the parsed templates.
type pageRenderer struct{ tmpl *template.Template }

func newPageRenderer() *pageRenderer {
	funcs := template.FuncMap{
		// fullStars and emptyStars mirror Jinja's range(stars) and range(5 - stars).
		"fullStars":  func(r *rating) []struct{} { return make([]struct{}, max(starCount(r), 0)) },
		"emptyStars": func(r *rating) []struct{} { return make([]struct{}, max(5-starCount(r), 0)) },
		"hasStars":   func(r *rating) bool { return r != nil && starCount(r) != 0 },
	}
	// The templates are compiled into the binary; a parse error is a build defect that every
	// test run catches, hence Must.
	return &pageRenderer{tmpl: template.Must(template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/*.html"))}
}

func starCount(r *rating) int {
	n, _ := strconv.Atoi(r.Stars.String())
	return n
}

// render builds the product page from the two backend outcomes.
func (p *pageRenderer) render(user string, details, reviews outcome) ([]byte, error) {
	prod := products()[0]
	d := pageData{User: user, Product: prod, Description: template.HTML(prod.DescriptionHTML)}
	if details.status == 200 {
		fields, err := jinjaFields(details.body)
		if err != nil {
			return nil, fmt.Errorf("details reply: %w", err)
		}
		d.DetailsOK, d.Details = true, fields
	} else {
		d.DetailsError = detailsUnavailable
	}
	if reviews.status == 200 {
		if err := json.Unmarshal(reviews.body, &d.Reviews); err != nil {
			return nil, fmt.Errorf("reviews reply: %w", err)
		}
		d.ReviewsOK = true
	} else {
		d.ReviewsError = reviewsUnavailable
	}
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, "productpage.html", d); err != nil {
		return nil, fmt.Errorf("render productpage.html: %w", err)
	}
	return buf.Bytes(), nil
}

// jinjaFields flattens a JSON object's top-level values to the text Jinja prints for them.
func jinjaFields(body []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch v := v.(type) {
		case nil:
			out[k] = "None"
		case bool:
			out[k] = map[bool]string{true: "True", false: "False"}[v]
		case string:
			out[k] = v
		default:
			out[k] = fmt.Sprint(v)
		}
	}
	return out, nil
}

// renderIndex builds the landing page at /.
func (p *pageRenderer) renderIndex() ([]byte, error) {
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, "index.html", nil); err != nil {
		return nil, fmt.Errorf("render index.html: %w", err)
	}
	return buf.Bytes(), nil
}
