package dashboard

import (
	"errors"
	"net/url"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/db"
)

// Sizes of the deployment pages.
const (
	deploymentsPerPage = 50
	// overviewDeployments is how many of an environment's latest
	// deployments the overview reads to find each service's current
	// revision there.
	overviewDeployments = 200
	overviewItems       = 100
)

func deploymentsHref(org, t string) string { return tenantHref(org, t) + "/deployments" }
func envHref(org, t, env string) string {
	return tenantHref(org, t) + "/environments/" + url.PathEscape(env)
}
func serviceHref(org, t, svc string) string {
	return tenantHref(org, t) + "/services/" + url.PathEscape(svc)
}

// deployRow is a deployment as the pages show it.
type deployRow struct {
	ID                     string
	Revision               int
	Service, ServiceHref   string
	Environment, EnvHref   string
	Image, Actor, Target   string
	Status                 buildit.DeployStatus
	Message                string
	Created                any
	Finished               any
	Previous, RolledBackTo *int
	Current                bool
	// Rollback is the API's rollback URL when the viewer may roll back to
	// it: a succeeded revision that is not the current one.
	Rollback string
}

// historyTable is what the "deploys" template shows: deployments, newest
// first, with the service's or the environment's column.
type historyTable struct {
	Rows     []deployRow
	Caption  string
	Env, Svc bool
}

// cell is a service's state in an environment on the overview.
type cell struct {
	Current *deployRow // the latest succeeded deployment
	Latest  *deployRow // the latest deployment, when it is not Current
}

func (d *Dashboard) rowOfDeployment(v Viewer, dep db.Deployment, service, env string) deployRow {
	return deployRow{
		ID: dep.ID.String(), Revision: dep.Revision, Service: service, ServiceHref: serviceHref(v.Org.Slug, v.Tenant.Slug, service),
		Environment: env, EnvHref: envHref(v.Org.Slug, v.Tenant.Slug, env),
		Image: dep.Image, Actor: dep.Actor, Target: dep.Target, Status: dep.Status, Message: dep.Message,
		Created: dep.CreatedAt, Finished: dep.FinishedAt, Previous: dep.PreviousRevision, RolledBackTo: dep.RolledBackTo,
	}
}

// markCurrent marks, in rows of one environment (newest first), each
// service's latest succeeded revision as current, and offers a rollback to
// every other succeeded one.
func (d *Dashboard) markCurrent(v Viewer, rows []deployRow, seen map[string]bool) {
	for i := range rows {
		r := &rows[i]
		if r.Status != buildit.DeploySucceeded {
			continue
		}
		key := r.Service + "\x00" + r.Environment
		if !seen[key] {
			seen[key] = true
			r.Current = true
			continue
		}
		if v.may(actRollback) {
			r.Rollback = "/api/v1" + tenantHref(v.Org.Slug, v.Tenant.Slug) + "/deployments/" + r.ID + "/rollback"
		}
	}
}

// deploymentsPage is the overview: every environment and service of the
// tenant, and which revision of each service is live in each environment.
func (d *Dashboard) deploymentsPage(c *gin.Context, v Viewer) {
	deps := d.store.Deployments()
	envs, err := deps.ListEnvironments(c, v.Tenant.ID, "", overviewItems)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	svcs, err := deps.ListServices(c, v.Tenant.ID, "", overviewItems)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	// cells[service][environment]
	cells := map[string]map[string]cell{}
	for _, e := range envs.Items {
		list, err := deps.ListForEnvironment(c, v.Tenant.ID, e.ID, "", overviewDeployments)
		if err != nil {
			d.opts.Fail(c, err)
			return
		}
		names, err := d.serviceNamesOf(c, v, list.Items)
		if err != nil {
			d.opts.Fail(c, err)
			return
		}
		for _, dep := range list.Items {
			svc := names[dep.ServiceID]
			if cells[svc] == nil {
				cells[svc] = map[string]cell{}
			}
			cl := cells[svc][e.Name]
			row := d.rowOfDeployment(v, dep, svc, e.Name)
			switch {
			case cl.Current != nil:
				continue
			case dep.Status == buildit.DeploySucceeded:
				cl.Current = &row
			case cl.Latest == nil:
				cl.Latest = &row
			}
			cells[svc][e.Name] = cl
		}
	}
	type envCol struct {
		Name, Href, Branches string
		Approval             bool
	}
	type svcRow struct {
		Name, Href string
		Cells      []cell
	}
	cols := make([]envCol, 0, len(envs.Items))
	for _, e := range envs.Items {
		b := ""
		for i, p := range e.Protection.AllowedBranches {
			if i > 0 {
				b += ", "
			}
			b += p
		}
		cols = append(cols, envCol{Name: e.Name, Href: envHref(v.Org.Slug, v.Tenant.Slug, e.Name), Branches: b, Approval: e.Protection.RequireApproval})
	}
	rows := make([]svcRow, 0, len(svcs.Items))
	for _, s := range svcs.Items {
		r := svcRow{Name: s.Name, Href: serviceHref(v.Org.Slug, v.Tenant.Slug, s.Name)}
		for _, e := range envs.Items {
			r.Cells = append(r.Cells, cells[s.Name][e.Name])
		}
		rows = append(rows, r)
	}
	d.show(c, v, "deployments", page{Title: "Deployments · " + v.Tenant.Name,
		Crumbs: []crumb{{v.Org.Name, orgHref(v.Org.Slug)}, {v.Tenant.Name, tenantHref(v.Org.Slug, v.Tenant.Slug)}, {"Deployments", ""}},
		Data:   gin.H{"Environments": cols, "Services": rows, "More": envs.Next != "" || svcs.Next != "", "Tabs": tenantTabs(v, "Deployments")}})
}

func (d *Dashboard) serviceNamesOf(c *gin.Context, v Viewer, deps []db.Deployment) (map[uuid.UUID]string, error) {
	ids := make([]uuid.UUID, 0, len(deps))
	for _, dep := range deps {
		ids = append(ids, dep.ServiceID)
	}
	return d.store.Deployments().ServiceNames(c, v.Tenant.ID, ids)
}

// environmentPage is an environment's history, newest first, with a
// rollback to each succeeded revision that is not live.
func (d *Dashboard) environmentPage(c *gin.Context, v Viewer) {
	deps := d.store.Deployments()
	env, err := deps.GetEnvironment(c, v.Tenant.ID, c.Param("env"))
	if errors.Is(err, db.ErrNotFound) {
		err = notFound("environment")
	}
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	after := c.Query("after")
	list, err := deps.ListForEnvironment(c, v.Tenant.ID, env.ID, after, deploymentsPerPage)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	names, err := d.serviceNamesOf(c, v, list.Items)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	rows := make([]deployRow, 0, len(list.Items))
	for _, dep := range list.Items {
		rows = append(rows, d.rowOfDeployment(v, dep, names[dep.ServiceID], env.Name))
	}
	// "Current" is only known on the first page, which holds the latest
	// deployments.
	seen := map[string]bool{}
	if after != "" {
		for _, r := range rows {
			seen[r.Service+"\x00"+r.Environment] = true
		}
	}
	d.markCurrent(v, rows, seen)
	base := envHref(v.Org.Slug, v.Tenant.Slug, env.Name)
	next := ""
	if list.Next != "" {
		next = base + "?after=" + url.QueryEscape(list.Next)
	}
	d.show(c, v, "environment", page{Title: env.Name + " · deployments",
		Crumbs: []crumb{{v.Org.Name, orgHref(v.Org.Slug)}, {v.Tenant.Name, tenantHref(v.Org.Slug, v.Tenant.Slug)},
			{"Deployments", deploymentsHref(v.Org.Slug, v.Tenant.Slug)}, {env.Name, ""}},
		Data: gin.H{"Name": env.Name, "Protection": env.Protection, "Next": next, "Paged": after != "", "Base": base,
			"History": historyTable{Rows: rows, Caption: "Deployments to " + env.Name + ", newest first", Svc: true}}})
}

// servicePage is a service's history in every environment: the live
// revision and the latest deployments of each.
func (d *Dashboard) servicePage(c *gin.Context, v Viewer) {
	deps := d.store.Deployments()
	svc, err := deps.GetService(c, v.Tenant.ID, c.Param("service"))
	if errors.Is(err, db.ErrNotFound) {
		err = notFound("service")
	}
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	envs, err := deps.ListEnvironments(c, v.Tenant.ID, "", overviewItems)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	type envHistory struct {
		Name, Href string
		History    historyTable
	}
	var hist []envHistory
	for _, e := range envs.Items {
		list, err := deps.History(c, v.Tenant.ID, svc.ID, e.ID, "", deploymentsPerPage)
		if err != nil {
			d.opts.Fail(c, err)
			return
		}
		if len(list.Items) == 0 {
			continue
		}
		rows := make([]deployRow, 0, len(list.Items))
		for _, dep := range list.Items {
			rows = append(rows, d.rowOfDeployment(v, dep, svc.Name, e.Name))
		}
		d.markCurrent(v, rows, map[string]bool{})
		hist = append(hist, envHistory{Name: e.Name, Href: envHref(v.Org.Slug, v.Tenant.Slug, e.Name), History: historyTable{Rows: rows, Caption: svc.Name + " in " + e.Name + ", newest first"}})
	}
	d.show(c, v, "service", page{Title: svc.Name + " · deployments",
		Crumbs: []crumb{{v.Org.Name, orgHref(v.Org.Slug)}, {v.Tenant.Name, tenantHref(v.Org.Slug, v.Tenant.Slug)},
			{"Deployments", deploymentsHref(v.Org.Slug, v.Tenant.Slug)}, {svc.Name, ""}},
		Data: gin.H{"Name": svc.Name, "Settings": string(svc.Settings), "Environments": hist}})
}
