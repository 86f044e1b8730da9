// Package details is Bookinfo's details service (upstream: Ruby/WEBrick, v1): the book's
// bibliographic data as compact JSON. v2, which asks the Google Books API, is not offered: this
// lab has no route off the machine.
package details

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// Book is the v1 body, with upstream's key order (Ruby hash order).
type Book struct {
	ID        int64  `json:"id"`
	Author    string `json:"author"`
	Year      int    `json:"year"`
	Type      string `json:"type"`
	Pages     int    `json:"pages"`
	Publisher string `json:"publisher"`
	Language  string `json:"language"`
	ISBN10    string `json:"ISBN-10"`
	ISBN13    string `json:"ISBN-13"`
}

// badIDMessage is the text of the 400 reply for a non-numeric product id.
const badIDMessage = "please provide numeric product id"

// Handler serves /health and /details/<id>. Like WEBrick's mount_proc, both paths match every
// method and everything below them.
func Handler(log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	mux := http.NewServeMux()
	health := func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "Details is healthy"})
	}
	mux.HandleFunc("/health", health)
	mux.HandleFunc("/health/", health)
	book := func(w http.ResponseWriter, r *http.Request) {
		id, ok := productID(r.URL.Path)
		if !ok {
			log.Debug("details: bad product id", "path", r.URL.Path)
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": badIDMessage})
			return
		}
		writeJSON(w, http.StatusOK, v1Book(id))
	}
	mux.HandleFunc("/details", book)
	mux.HandleFunc("/details/", book)
	return mux
}

// v1Book is the one book upstream knows; id echoes the request.
func v1Book(id int64) Book {
	return Book{
		ID: id, Author: "William Shakespeare", Year: 1595, Type: "paperback", Pages: 200,
		Publisher: "PublisherA", Language: "English", ISBN10: "1234567890", ISBN13: "123-1234567890",
	}
}

// productID parses the last path segment the way Ruby's Integer() does for the cases that
// matter: optional sign, surrounding blanks, 0x/0b/0o and leading-zero octal prefixes and
// underscores between digits. "/details" and "/details/" have "details" as their last segment
// (Ruby's split drops trailing empty strings), which is not a number.
func productID(path string) (int64, bool) {
	segments := strings.Split(strings.TrimRight(path, "/"), "/")
	last := strings.TrimSpace(segments[len(segments)-1])
	id, err := strconv.ParseInt(last, 0, 64)
	return id, err == nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // only our own fixed types reach here
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
