package dashboard

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

//go:embed static templates
var files embed.FS

// assets are the embedded static files, each served under a name with its
// content's hash (app.3f9c1e0a2b.css), so that it can be cached for a year
// and a new build is fetched at once.
type assets struct {
	byName map[string]string // app.css -> app.3f9c1e0a2b.css
	served map[string]asset  // app.3f9c1e0a2b.css -> content
}

type asset struct {
	body  []byte
	ctype string
}

func loadAssets() (*assets, error) {
	a := &assets{byName: map[string]string{}, served: map[string]asset{}}
	err := fs.WalkDir(files, "static", func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		name := path.Base(p)
		ext := path.Ext(name)
		fp := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:5]) + ext
		ctype := mime.TypeByExtension(ext)
		if ext == ".js" {
			ctype = "text/javascript; charset=utf-8"
		}
		a.byName[name] = fp
		a.served[fp] = asset{body: b, ctype: ctype}
		return nil
	})
	return a, err
}

// url is the path an asset is served at.
func (a *assets) url(name string) string {
	fp, ok := a.byName[name]
	if !ok {
		panic("dashboard: no asset " + name)
	}
	return "/assets/" + fp
}

func (a *assets) serve(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	f, ok := a.served[c.Param("name")]
	if !ok {
		h.Set("Cache-Control", "no-store")
		c.Data(http.StatusNotFound, "text/plain; charset=utf-8", []byte("not found"))
		return
	}
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	c.Data(http.StatusOK, f.ctype, f.body)
}
