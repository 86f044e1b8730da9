package productpage

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// sessionCookie is the cookie name upstream's Flask session uses.
const sessionCookie = "session"

// defaultSessionKey signs sessions when Options.SessionKey is empty. Like upstream's fixed Flask
// secret it is the same in every replica, so a login survives a request landing on another
// productpage pod. Bookinfo is a demo: the session only carries a user name nobody checks.
const defaultSessionKey = "meshlab-bookinfo-productpage"

// session is the signed cookie's payload; upstream stores {"user": "<name>"}.
type session struct {
	User string `json:"user"`
}

// sessions signs and checks session cookies: base64url(JSON) "." base64url(HMAC-SHA256).
type sessions struct{ key []byte }

func (s sessions) sign(payload string) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// user returns the logged-in user of a request, or "" when there is none or the cookie was not
// signed by us.
func (s sessions) user(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.sign(payload))) {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return ""
	}
	var sess session
	if json.Unmarshal(raw, &sess) != nil {
		return ""
	}
	return sess.User
}

// login sets the session cookie for user: HttpOnly, Path=/, no expiry (a browser session), as
// Flask does.
func (s sessions) login(w http.ResponseWriter, user string) {
	raw, _ := json.Marshal(session{User: user}) // a struct of one string cannot fail
	payload := base64.RawURLEncoding.EncodeToString(raw)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: payload + "." + s.sign(payload), Path: "/", HttpOnly: true,
	})
}

// logout clears the cookie the way Flask deletes an emptied session:
// "session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Path=/".
func (s sessions) logout(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, MaxAge: -1, Expires: time.Unix(0, 0),
	})
}
