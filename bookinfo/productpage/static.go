package productpage

import (
	"bytes"
	"embed"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"net/http"
	"time"
)

//go:embed static
var staticFS embed.FS

// staticFiles serves /static/: the stylesheet from the binary and img/izzy.png, the avatar the
// page shows, drawn at start-up (upstream ships a picture of Izzy; a plain disc stands in).
func staticFiles() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil { // "static" is embedded above; only a build defect gets here
		panic(err)
	}
	files := http.FileServerFS(sub)
	avatar := avatarPNG()
	started := time.Now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "img/izzy.png" {
			http.ServeContent(w, r, "izzy.png", started, bytes.NewReader(avatar))
			return
		}
		files.ServeHTTP(w, r)
	})
}

// avatarPNG draws a 64×64 blue disc on a transparent background.
func avatarPNG() []byte {
	const size = 64
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	fill := color.NRGBA{R: 0x46, G: 0x6b, B: 0xb0, A: 0xff}
	for y := range size {
		for x := range size {
			dx, dy := x-size/2, y-size/2
			if dx*dx+dy*dy <= (size/2-1)*(size/2-1) {
				img.Set(x, y, fill)
			}
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img) // encoding an in-memory image into a buffer cannot fail
	return buf.Bytes()
}
