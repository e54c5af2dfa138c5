package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db"
)

// settingsItems is how many members, secrets, targets, environments or
// keys a settings page lists; more are paged with ?after=.
const settingsItems = 100

// settingsPage is what every settings page has around its own rows.
type settingsPage struct {
	Tabs []navItem
	// API is the JSON API's URL of the page's list, for its forms.
	API string
	// Admin is whether the forms that change things are shown; the API
	// decides anyway.
	Admin     bool
	Rows      any
	Next      string
	Paged     bool
	Base      string
	Extra     any
	Roles     []string
	Tenants   []db.Tenant
	Scopes    []string
	Fresh     bool
	Generated string
}

func pager(base, next string, q url.Values) string {
	if next == "" {
		return ""
	}
	if q == nil {
		q = url.Values{}
	}
	q.Set("after", next)
	return base + "?" + q.Encode()
}

func (d *Dashboard) tenantSettings(c *gin.Context, v Viewer, name, tab, title string, sp settingsPage) {
	base := tenantHref(v.Org.Slug, v.Tenant.Slug)
	sp.Tabs = tenantTabs(v, tab)
	sp.Paged = c.Query("after") != ""
	d.show(c, v, name, page{Title: title + " · " + v.Tenant.Name,
		Crumbs: []crumb{{v.Org.Name, orgHref(v.Org.Slug)}, {v.Tenant.Name, base}, {title, ""}}, Data: sp})
}

func (d *Dashboard) orgSettings(c *gin.Context, v Viewer, name, tab, title string, sp settingsPage) {
	sp.Tabs = orgTabs(v, tab)
	sp.Paged = c.Query("after") != ""
	d.show(c, v, name, page{Title: title + " · " + v.Org.Name,
		Crumbs: []crumb{{v.Org.Name, orgHref(v.Org.Slug)}, {title, ""}}, Data: sp})
}

func (d *Dashboard) tenantMembersPage(c *gin.Context, v Viewer) {
	ms, err := d.store.Tenants().ListMembers(c, v.Tenant.ID, c.Query("after"), settingsItems)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	base := tenantHref(v.Org.Slug, v.Tenant.Slug) + "/settings/members"
	d.tenantSettings(c, v, "tenant_members", "Members", "Members", settingsPage{
		API: "/api/v1" + tenantHref(v.Org.Slug, v.Tenant.Slug) + "/members", Admin: v.may(actTenantMembers),
		Rows: ms.Items, Next: pager(base, ms.Next, nil), Base: base, Roles: []string{"viewer", "member", "admin"}})
}

// secretRow is a secret as the page shows it: its name and dates, never
// its value, which the store does not even return here.
type secretRow struct {
	Name, API        string
	Created, Updated time.Time
}

func (d *Dashboard) secretsPage(c *gin.Context, v Viewer) {
	ss, err := d.store.Tenants().ListSecrets(c, v.Tenant.ID, c.Query("after"), settingsItems)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	api := "/api/v1" + tenantHref(v.Org.Slug, v.Tenant.Slug) + "/secrets"
	rows := make([]secretRow, 0, len(ss.Items))
	for _, s := range ss.Items {
		rows = append(rows, secretRow{Name: s.Name, API: api + "/" + url.PathEscape(s.Name), Created: s.CreatedAt, Updated: s.UpdatedAt})
	}
	base := tenantHref(v.Org.Slug, v.Tenant.Slug) + "/settings/secrets"
	d.tenantSettings(c, v, "secrets", "Secrets", "Secrets", settingsPage{
		API: api, Admin: v.may(actSecrets), Rows: rows, Next: pager(base, ss.Next, nil), Base: base})
}

type targetRow struct {
	Name, Kind, Credentials, API string
	Settings                     string
	Updated                      time.Time
}

func (d *Dashboard) targetsPage(c *gin.Context, v Viewer) {
	ts, err := d.store.Deployments().ListTargets(c, v.Tenant.ID, c.Query("after"), settingsItems)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	api := "/api/v1" + tenantHref(v.Org.Slug, v.Tenant.Slug) + "/targets"
	rows := make([]targetRow, 0, len(ts.Items))
	for _, t := range ts.Items {
		rows = append(rows, targetRow{Name: t.Name, Kind: string(t.Kind), Credentials: t.CredentialsSecret, Settings: string(t.Settings),
			API: api + "/" + url.PathEscape(t.Name), Updated: t.UpdatedAt})
	}
	base := tenantHref(v.Org.Slug, v.Tenant.Slug) + "/settings/targets"
	d.tenantSettings(c, v, "targets", "Targets", "Targets", settingsPage{
		API: api, Admin: v.may(actTargets), Rows: rows, Next: pager(base, ts.Next, nil), Base: base})
}

type environmentRow struct {
	Name, Href, API, Branches string
	Approval                  bool
}

func (d *Dashboard) environmentsPage(c *gin.Context, v Viewer) {
	es, err := d.store.Deployments().ListEnvironments(c, v.Tenant.ID, c.Query("after"), settingsItems)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	api := "/api/v1" + tenantHref(v.Org.Slug, v.Tenant.Slug) + "/environments"
	rows := make([]environmentRow, 0, len(es.Items))
	for _, e := range es.Items {
		rows = append(rows, environmentRow{Name: e.Name, Href: envHref(v.Org.Slug, v.Tenant.Slug, e.Name), API: api + "/" + url.PathEscape(e.Name),
			Branches: strings.Join(e.Protection.AllowedBranches, ", "), Approval: e.Protection.RequireApproval})
	}
	base := tenantHref(v.Org.Slug, v.Tenant.Slug) + "/settings/environments"
	d.tenantSettings(c, v, "environments", "Environments", "Environments", settingsPage{
		API: api, Admin: v.may(actEnvironments), Rows: rows, Next: pager(base, es.Next, nil), Base: base})
}

func (d *Dashboard) orgSettingsPage(c *gin.Context, v Viewer) {
	d.orgSettings(c, v, "org_settings", "Plan", "Plan", settingsPage{Extra: v.Org})
}

type memberRow struct {
	db.OrgMembership
	API string
}

func (d *Dashboard) orgMembersPage(c *gin.Context, v Viewer) {
	ms, err := d.store.Organizations().ListMembers(c, v.Org.ID, c.Query("after"), settingsItems)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	api := "/api/v1" + orgHref(v.Org.Slug) + "/members"
	rows := make([]memberRow, 0, len(ms.Items))
	for _, m := range ms.Items {
		rows = append(rows, memberRow{OrgMembership: m, API: api + "/" + m.UserID.String()})
	}
	base := orgHref(v.Org.Slug) + "/settings/members"
	d.orgSettings(c, v, "org_members", "Members", "Members", settingsPage{
		API: api, Admin: v.may(actOrgMembers), Rows: rows, Next: pager(base, ms.Next, nil), Base: base, Roles: []string{"member", "admin", "owner"}})
}

type keyRow struct {
	db.APIKey
	Tenant, API string
	Active      bool
}

func (d *Dashboard) apiKeysPage(c *gin.Context, v Viewer) {
	revoked := c.Query("revoked") == "true"
	ks, err := d.store.APIKeys().List(c, v.Org.ID, db.APIKeyFilter{IncludeRevoked: revoked}, c.Query("after"), settingsItems)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	tenants, err := d.store.Tenants().List(c, v.Org.ID, "", navItems)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	slugs := map[uuid.UUID]string{}
	for _, t := range tenants.Items {
		slugs[t.ID] = t.Slug
	}
	api := "/api/v1" + orgHref(v.Org.Slug) + "/api-keys"
	now := time.Now()
	rows := make([]keyRow, 0, len(ks.Items))
	for _, k := range ks.Items {
		r := keyRow{APIKey: k, API: api + "/" + k.ID.String(), Active: k.Active(now)}
		if k.TenantID != nil {
			r.Tenant = slugs[*k.TenantID]
			if r.Tenant == "" {
				t, err := d.store.Tenants().GetByID(c, v.Org.ID, *k.TenantID)
				if err != nil {
					d.opts.Fail(c, err)
					return
				}
				r.Tenant = t.Slug
			}
		}
		rows = append(rows, r)
	}
	base := orgHref(v.Org.Slug) + "/settings/api-keys"
	q := url.Values{}
	if revoked {
		q.Set("revoked", "true")
	}
	d.orgSettings(c, v, "api_keys", "API keys", "API keys", settingsPage{
		API: api, Admin: v.may(actAPIKeys), Rows: rows, Next: pager(base, ks.Next, q), Base: base,
		Tenants: tenants.Items, Scopes: APIKeyScopes, Extra: revoked})
}

// auditRow is an audit entry as the page shows it.
type auditRow struct {
	db.AuditEntry
	Actor, Tenant, Meta string
}

// auditFilter is the audit page's filters, as the API's query takes them.
type auditFilter struct {
	Action, Tenant, Actor, Since, Until string
}

func (d *Dashboard) auditPage(c *gin.Context, v Viewer) {
	af := auditFilter{Action: c.Query("action"), Tenant: c.Query("tenant"), Actor: c.Query("actor"), Since: c.Query("since"), Until: c.Query("until")}
	f := db.AuditFilter{Action: af.Action}
	members, err := d.store.Organizations().ListMembers(c, v.Org.ID, "", settingsItems)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	tenants, err := d.store.Tenants().List(c, v.Org.ID, "", navItems)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	// The filters, read as the API reads them (GET …/audit-logs).
	if af.Actor != "" {
		id, err := uuid.Parse(af.Actor)
		if err != nil {
			d.opts.Fail(c, &Error{Status: http.StatusBadRequest, Message: "actor must be the id of a user or an API key"})
			return
		}
		if _, err := d.store.APIKeys().Get(c, v.Org.ID, id); err == nil {
			f.ActorAPIKeyID = &id
		} else if errors.Is(err, db.ErrNotFound) {
			f.ActorUserID = &id
		} else {
			d.opts.Fail(c, err)
			return
		}
	}
	empty := false
	if af.Tenant != "" {
		t, err := d.store.Tenants().Get(c, v.Org.ID, af.Tenant)
		switch {
		case errors.Is(err, db.ErrNotFound):
			empty = true
		case err != nil:
			d.opts.Fail(c, err)
			return
		default:
			f.TenantID = &t.ID
		}
	}
	for param, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if s := c.Query(param); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				d.opts.Fail(c, &Error{Status: http.StatusBadRequest, Message: param + " must be an RFC 3339 time such as 2026-11-26T12:00:00Z"})
				return
			}
			*dst = t
		}
	}
	var entries db.Page[db.AuditEntry]
	if !empty {
		if entries, err = d.store.Audit().List(c, v.Org.ID, f, c.Query("after"), settingsItems); err != nil {
			d.opts.Fail(c, err)
			return
		}
	}
	who := map[uuid.UUID]string{}
	for _, m := range members.Items {
		who[m.UserID] = m.Email
	}
	slugs := map[uuid.UUID]string{}
	for _, t := range tenants.Items {
		slugs[t.ID] = t.Slug
	}
	rows := make([]auditRow, 0, len(entries.Items))
	for _, e := range entries.Items {
		r := auditRow{AuditEntry: e, Meta: metaText(e.Metadata)}
		switch {
		case e.ActorUserID != nil:
			r.Actor = who[*e.ActorUserID]
			if r.Actor == "" {
				r.Actor = "user " + e.ActorUserID.String()
			}
		case e.ActorAPIKeyID != nil:
			r.Actor = "API key " + e.ActorAPIKeyID.String()
		}
		if e.TenantID != nil {
			r.Tenant = slugs[*e.TenantID]
		}
		rows = append(rows, r)
	}
	q := url.Values{}
	for k, val := range map[string]string{"action": af.Action, "tenant": af.Tenant, "actor": af.Actor, "since": af.Since, "until": af.Until} {
		if val != "" {
			q.Set(k, val)
		}
	}
	base := orgHref(v.Org.Slug) + "/settings/audit"
	d.orgSettings(c, v, "audit", "Audit log", "Audit log", settingsPage{
		Rows: rows, Next: pager(base, entries.Next, q), Base: base, Tenants: tenants.Items,
		Extra: gin.H{"Filter": af, "Members": members.Items}})
}

// metaText is an audit entry's metadata as "key=value" pairs, by key.
func metaText(m map[string]any) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(k + "=" + fmt.Sprint(m[k]))
	}
	return b.String()
}
