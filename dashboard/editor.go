package dashboard

import (
	"github.com/gin-gonic/gin"
)

// editorData is the pipeline editor's: a new pipeline (Name empty, New)
// or an existing one's source and version, which the PUT sends back so
// that an edit made meanwhile is a 409, not lost.
type editorData struct {
	New          bool
	Name, Source string
	Version      int
	// API is where the form sends the source: POST …/pipelines for a new
	// one, PUT …/pipelines/{p} for an edit; Back is the page after.
	API, Back, Pipelines string
	Tabs                 []navItem
}

// starterSource is the new pipeline form's example.
const starterSource = `pipeline "app"
stage "build" {
    run "echo build"
}
`

func (d *Dashboard) newPipelinePage(c *gin.Context, v Viewer) {
	base := tenantHref(v.Org.Slug, v.Tenant.Slug)
	d.show(c, v, "editor", page{Title: "New pipeline · " + v.Tenant.Name,
		Crumbs: []crumb{{v.Org.Name, orgHref(v.Org.Slug)}, {v.Tenant.Name, base}, {"New pipeline", ""}},
		Data:   editorData{New: true, Source: starterSource, API: "/api/v1" + base + "/pipelines", Pipelines: base + "/pipelines/", Tabs: tenantTabs(v, "")}})
}

func (d *Dashboard) editPipelinePage(c *gin.Context, v Viewer) {
	p, err := d.pipelineOf(c, v)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	base := pipeHref(v.Org.Slug, v.Tenant.Slug, p.Name)
	d.show(c, v, "editor", page{Title: "Edit " + p.Name,
		Crumbs: []crumb{{v.Org.Name, orgHref(v.Org.Slug)}, {v.Tenant.Name, tenantHref(v.Org.Slug, v.Tenant.Slug)}, {p.Name, base}, {"Edit", ""}},
		Data:   editorData{Name: p.Name, Source: p.Source, Version: p.Version, API: "/api/v1" + base, Back: base, Tabs: tenantTabs(v, "")}})
}
