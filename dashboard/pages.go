package dashboard

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/runclient"
)

// Page sizes of the lists.
const (
	pipelinesPerPage = 100
	runsPerPage      = 50
	navItems         = 100
)

// nav is the header's switcher: the user's organizations and the tenants
// of the current one they can see.
type nav struct {
	Orgs    []navItem
	Tenants []navItem
	Org     string // the current organization's name, "" on none
	Tenant  string
}

type navItem struct {
	Label, Href string
	Current     bool
}

func orgHref(org string) string           { return "/orgs/" + url.PathEscape(org) }
func tenantHref(org, t string) string     { return orgHref(org) + "/tenants/" + url.PathEscape(t) }
func pipeHref(org, t, p string) string    { return tenantHref(org, t) + "/pipelines/" + url.PathEscape(p) }
func runHref(base string, n int64) string { return base + "/runs/" + strconv.FormatInt(n, 10) }

// navFor lists the viewer's organizations and, on an organization's pages,
// the tenants the API's GET .../tenants would list for them.
func (d *Dashboard) navFor(c *gin.Context, v Viewer) (*nav, error) {
	n := &nav{Org: v.Org.Name, Tenant: v.Tenant.Name}
	orgs, err := d.store.Organizations().ListForUser(c, v.User.ID, "", navItems)
	if err != nil {
		return nil, err
	}
	for _, o := range orgs.Items {
		n.Orgs = append(n.Orgs, navItem{Label: o.Name, Href: orgHref(o.Slug), Current: o.ID == v.Org.ID})
	}
	if v.Org.ID == uuid.Nil {
		return n, nil
	}
	tenants, err := d.tenantsOf(c, v)
	if err != nil {
		return nil, err
	}
	for _, t := range tenants {
		n.Tenants = append(n.Tenants, navItem{Label: t.Name, Href: tenantHref(v.Org.Slug, t.Slug), Current: t.ID == v.Tenant.ID})
	}
	return n, nil
}

// tenantsOf is what GET /orgs/:org/tenants lists for a user: every tenant
// for organization owners and admins, their own for members.
func (d *Dashboard) tenantsOf(c *gin.Context, v Viewer) ([]db.Tenant, error) {
	if v.OrgRole == db.OrgRoleOwner || v.OrgRole == db.OrgRoleAdmin {
		p, err := d.store.Tenants().List(c, v.Org.ID, "", navItems)
		return p.Items, err
	}
	p, err := d.store.Tenants().ListForMember(c, v.Org.ID, v.User.ID, "", navItems)
	out := make([]db.Tenant, 0, len(p.Items))
	for _, t := range p.Items {
		out = append(out, t.Tenant)
	}
	return out, err
}

// show renders a page with the viewer's nav, or fails.
func (d *Dashboard) show(c *gin.Context, v Viewer, name string, p page) {
	n, err := d.navFor(c, v)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	p.Viewer, p.Nav = &v, n
	d.render(c, http.StatusOK, name, p)
}

func (d *Dashboard) loginPage(c *gin.Context, _ Viewer) {
	d.render(c, http.StatusOK, "login", page{Title: "Sign in", Data: gin.H{"Next": safeNext(c.Query("next"))}})
}

func (d *Dashboard) signupPage(c *gin.Context, _ Viewer) {
	d.render(c, http.StatusOK, "signup", page{Title: "Sign up", Data: gin.H{"Next": safeNext(c.Query("next"))}})
}

// home sends the user to their first organization.
func (d *Dashboard) home(c *gin.Context, v Viewer) {
	orgs, err := d.store.Organizations().ListForUser(c, v.User.ID, "", 1)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	if len(orgs.Items) > 0 {
		c.Redirect(http.StatusSeeOther, orgHref(orgs.Items[0].Slug))
		return
	}
	d.show(c, v, "home", page{Title: "BuildIt"})
}

type tenantRow struct {
	Name, Slug, Href string
}

func (d *Dashboard) orgPage(c *gin.Context, v Viewer) {
	ts, err := d.tenantsOf(c, v)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	rows := make([]tenantRow, 0, len(ts))
	for _, t := range ts {
		rows = append(rows, tenantRow{Name: t.Name, Slug: t.Slug, Href: tenantHref(v.Org.Slug, t.Slug)})
	}
	d.show(c, v, "org", page{Title: v.Org.Name, Crumbs: []crumb{{v.Org.Name, ""}},
		Data: gin.H{"Tenants": rows, "Role": string(v.OrgRole), "CreateTenant": v.may(actCreateTenant)}})
}

// runRow is a run as the lists show it.
type runRow struct {
	Number                int64
	Href                  string
	Status                buildit.RunStatus
	Branch, Commit, Event string
	Actor, Trigger        string
	Created               time.Time
	Duration              string
	Terminal              bool
}

func rowOf(r db.Run, base string, now time.Time) runRow {
	return runRow{Number: r.Number, Href: runHref(base, r.Number), Status: r.Status, Branch: r.Branch, Commit: r.Commit,
		Event: r.Event, Actor: r.Actor, Trigger: r.Trigger, Created: r.CreatedAt, Duration: spanOf(r.StartedAt, r.EndedAt, now),
		Terminal: r.Status.Terminal()}
}

type pipelineRow struct {
	Name, Href, API string
	Last            *runRow
	Inputs          []pipeline.Input
	Manual          bool
}

// planHead is the part of a stored plan a trigger form needs.
type planHead struct {
	On     *pipeline.On     `json:"on"`
	Inputs []pipeline.Input `json:"inputs"`
}

func (d *Dashboard) pipelinesPage(c *gin.Context, v Viewer) {
	base := tenantHref(v.Org.Slug, v.Tenant.Slug)
	ps, err := d.store.Pipelines().List(c, v.Tenant.ID, c.Query("after"), pipelinesPerPage)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	ids := make([]uuid.UUID, len(ps.Items))
	for i, p := range ps.Items {
		ids[i] = p.ID
	}
	last, err := d.store.Runs().LatestRuns(c, v.Tenant.ID, ids)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	settings, err := d.store.Pipelines().TriggerSettings(c, v.Tenant.ID, ids)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	now := time.Now()
	rows := make([]pipelineRow, 0, len(ps.Items))
	for _, p := range ps.Items {
		href := base + "/pipelines/" + url.PathEscape(p.Name)
		row := pipelineRow{Name: p.Name, Href: href, API: "/api/v1" + href + "/runs", Manual: true}
		if ts, ok := settings[p.ID]; ok {
			var on *pipeline.On
			if json.Unmarshal(ts.On, &on) == nil && on != nil {
				row.Manual = on.Manual
			}
			_ = json.Unmarshal(ts.Inputs, &row.Inputs)
		}
		if r, ok := last[p.ID]; ok {
			rr := rowOf(r, href, now)
			row.Last = &rr
		}
		rows = append(rows, row)
	}
	next := ""
	if ps.Next != "" {
		next = base + "?after=" + url.QueryEscape(ps.Next)
	}
	d.show(c, v, "pipelines", page{Title: "Pipelines · " + v.Tenant.Name,
		Crumbs: []crumb{{v.Org.Name, orgHref(v.Org.Slug)}, {v.Tenant.Name, ""}},
		Data:   gin.H{"Pipelines": rows, "Next": next, "First": c.Query("after") != "", "Base": base}})
}

// pipelineOf loads the URL's pipeline of the viewer's tenant: one of
// another tenant is not found, as in the API.
func (d *Dashboard) pipelineOf(c *gin.Context, v Viewer) (db.Pipeline, error) {
	p, err := d.store.Pipelines().Get(c, v.Tenant.ID, c.Param("pipeline"))
	if errors.Is(err, db.ErrNotFound) {
		return p, notFound("pipeline")
	}
	return p, err
}

func (d *Dashboard) runOf(c *gin.Context, v Viewer) (db.Pipeline, db.Run, error) {
	p, err := d.pipelineOf(c, v)
	if err != nil {
		return p, db.Run{}, err
	}
	n, err := strconv.ParseInt(c.Param("number"), 10, 64)
	if err != nil || n < 1 {
		return p, db.Run{}, notFound("run")
	}
	r, err := d.store.Runs().GetRunByNumber(c, v.Tenant.ID, p.ID, n)
	if errors.Is(err, db.ErrNotFound) {
		return p, r, notFound("run")
	}
	return p, r, err
}

var runStatuses = []buildit.RunStatus{buildit.RunQueued, buildit.RunRunning, buildit.RunWaiting, buildit.RunSucceeded, buildit.RunFailed, buildit.RunCancelled}

func (d *Dashboard) runsPage(c *gin.Context, v Viewer) {
	f := db.RunFilter{Status: buildit.RunStatus(c.Query("status")), Branch: c.Query("branch")}
	if f.Status != "" && !f.Status.Valid() {
		d.opts.Fail(c, &Error{Status: http.StatusUnprocessableEntity, Message: "status must be one of queued, running, waiting, succeeded, failed, cancelled"})
		return
	}
	p, err := d.pipelineOf(c, v)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	runs, err := d.store.Runs().ListPipelineRuns(c, v.Tenant.ID, p.ID, f, c.Query("after"), runsPerPage)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	base := pipeHref(v.Org.Slug, v.Tenant.Slug, p.Name)
	now := time.Now()
	rows := make([]runRow, 0, len(runs.Items))
	for _, r := range runs.Items {
		rows = append(rows, rowOf(r, base, now))
	}
	q := url.Values{}
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if f.Branch != "" {
		q.Set("branch", f.Branch)
	}
	filtered := q.Encode()
	next := ""
	if runs.Next != "" {
		q.Set("after", runs.Next)
		next = base + "?" + q.Encode()
	}
	newest := base
	if filtered != "" {
		newest += "?" + filtered
	}
	api := "/api/v1" + base + "/runs"
	if filtered != "" {
		api += "?" + filtered
	}
	var head planHead
	_ = json.Unmarshal(p.Plan, &head)
	d.show(c, v, "runs", page{Title: p.Name + " · runs",
		Crumbs: []crumb{{v.Org.Name, orgHref(v.Org.Slug)}, {v.Tenant.Name, tenantHref(v.Org.Slug, v.Tenant.Slug)}, {p.Name, ""}},
		API:    api,
		Data: gin.H{"Pipeline": p.Name, "Runs": rows, "Next": next, "Newest": newest, "Paged": c.Query("after") != "",
			"Status": string(f.Status), "Branch": f.Branch, "Statuses": runStatuses, "Base": base, "CanEdit": v.may(actEditPipeline),
			"Trigger": pipelineRow{Name: p.Name, API: "/api/v1" + base + "/runs", Inputs: head.Inputs, Manual: head.On == nil || head.On.Manual}}})
}

// gateView is a waiting approval gate of a run.
type gateView struct {
	ID, Message string
	Approvers   []string
	API         string
}

func (d *Dashboard) runPage(c *gin.Context, v Viewer) {
	p, r, err := d.runOf(c, v)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	all, err := d.store.Runs().ListStageRuns(c, v.Tenant.ID, r.ID)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	var plan pipeline.Plan
	if err := json.Unmarshal(p.Plan, &plan); err != nil {
		d.opts.Fail(c, err)
		return
	}
	now := time.Now()
	states := latestStates(all, now)
	base := pipeHref(v.Org.Slug, v.Tenant.Slug, p.Name)
	here := runHref(base, r.Number)
	// Relative links ("7/log?stage=…" from ".../runs/7") keep a
	// 200-stage page small.
	rel := strconv.FormatInt(r.Number, 10) + "/log?"
	g := layoutGraph(plan, states, func(id string) string { return rel + logQuery(id) })
	params := runclient.ParamsOf(r)
	var gates []gateView
	for _, st := range plan.Steps {
		if st.Kind != pipeline.KindApproval || states[st.ID].Status != buildit.StageWaiting {
			continue
		}
		gv := gateView{ID: st.ID, API: "/api/v1" + here + "/stages/" + url.PathEscape(st.ID)}
		if st.Approval != nil {
			gv.Message = st.Approval.Message
		}
		// Who decides is what the run recorded when it started.
		if gate, ok := params.Gates[st.ID]; ok {
			gv.Approvers = gate.Approvers
		} else if st.Approval != nil && params.Gates == nil {
			gv.Approvers = []string{"admin"}
		}
		gates = append(gates, gv)
	}
	var failed []string
	for _, st := range plan.Steps {
		if states[st.ID].Status == buildit.StageFailed {
			failed = append(failed, st.ID)
		}
	}
	d.show(c, v, "run", page{Title: p.Name + " #" + strconv.FormatInt(r.Number, 10),
		Crumbs: []crumb{{v.Org.Name, orgHref(v.Org.Slug)}, {v.Tenant.Name, tenantHref(v.Org.Slug, v.Tenant.Slug)}, {p.Name, base}, {"#" + strconv.FormatInt(r.Number, 10), ""}},
		API:    "/api/v1" + here,
		Data: gin.H{"Run": r, "Pipeline": p.Name, "Graph": g, "Gates": gates, "Failed": failed, "Here": here,
			"Duration": spanOf(r.StartedAt, r.EndedAt, now), "Temporal": d.opts.UILink(r), "Trigger": params.Trigger,
			"Terminal": r.Status.Terminal(), "CanRerunFailed": r.Status == buildit.RunFailed || r.Status == buildit.RunCancelled,
			"RerunOf": rerunHref(base, r.RerunOf)}})
}

func rerunHref(base string, n *int64) string {
	if n == nil {
		return ""
	}
	return runHref(base, *n)
}

// latestStates keeps the latest attempt of every stage, as the API's run
// view does.
func latestStates(all []db.StageRun, now time.Time) map[string]stageState {
	out := make(map[string]stageState, len(all))
	for _, sr := range all {
		if cur, ok := out[sr.StageID]; ok && cur.Attempt > sr.Attempt {
			continue
		}
		out[sr.StageID] = stageState{Status: sr.Status, Attempt: sr.Attempt, Duration: spanOf(sr.StartedAt, sr.EndedAt, now)}
	}
	return out
}

// attemptsOf returns the attempts of stage in all, by number.
func attemptsOf(all []db.StageRun, stage string) []db.StageRun {
	var out []db.StageRun
	for _, sr := range all {
		if sr.StageID == stage {
			out = append(out, sr)
		}
	}
	slices.SortFunc(out, func(a, b db.StageRun) int { return a.Attempt - b.Attempt })
	return out
}
