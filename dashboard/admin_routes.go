package dashboard

// The pages beyond pipelines and runs: deployments, editing pipelines, and
// the settings of a tenant and of an organization. Each mirrors an API
// route and takes its access, as every page does (see Routes).

// adminRoutes lists the deployment, editor and settings pages.
func (d *Dashboard) adminRoutes() []Route {
	return []Route{
		{tenantPath + "/deployments", "GET " + apiTenant + "/environments", d.deploymentsPage},
		{tenantPath + "/environments/:env", "GET " + apiTenant + "/environments/:env/deployments", d.environmentPage},
		{tenantPath + "/services/:service", "GET " + apiTenant + "/services/:service", d.servicePage},
		{tenantPath + "/new-pipeline", "POST " + apiTenant + "/pipelines", d.newPipelinePage},
		{pipePath + "/edit", "PUT " + apiPipe, d.editPipelinePage},
		{tenantPath + "/settings/members", "GET " + apiTenant + "/members", d.tenantMembersPage},
		{tenantPath + "/settings/secrets", "GET " + apiTenant + "/secrets", d.secretsPage},
		{tenantPath + "/settings/targets", "GET " + apiTenant + "/targets", d.targetsPage},
		{tenantPath + "/settings/environments", "GET " + apiTenant + "/environments", d.environmentsPage},
		{orgPath + "/settings", "GET " + apiOrg, d.orgSettingsPage},
		{orgPath + "/settings/members", "GET " + apiOrg + "/members", d.orgMembersPage},
		{orgPath + "/settings/api-keys", "GET " + apiOrg + "/api-keys", d.apiKeysPage},
		{orgPath + "/settings/audit", "GET " + apiOrg + "/audit-logs", d.auditPage},
	}
}

// tenantTabs are the sections of a tenant, current marking the page's.
func tenantTabs(v Viewer, current string) []navItem {
	base := tenantHref(v.Org.Slug, v.Tenant.Slug)
	tabs := []navItem{
		{Label: "Pipelines", Href: base},
		{Label: "Deployments", Href: base + "/deployments"},
		{Label: "Members", Href: base + "/settings/members"},
		{Label: "Secrets", Href: base + "/settings/secrets"},
		{Label: "Targets", Href: base + "/settings/targets"},
		{Label: "Environments", Href: base + "/settings/environments"},
	}
	return markTab(tabs, current)
}

// orgTabs are the sections of an organization's settings.
func orgTabs(v Viewer, current string) []navItem {
	base := orgHref(v.Org.Slug)
	tabs := []navItem{
		{Label: "Tenants", Href: base},
		{Label: "Plan", Href: base + "/settings"},
		{Label: "Members", Href: base + "/settings/members"},
		{Label: "API keys", Href: base + "/settings/api-keys"},
		{Label: "Audit log", Href: base + "/settings/audit"},
	}
	return markTab(tabs, current)
}

func markTab(tabs []navItem, current string) []navItem {
	for i := range tabs {
		tabs[i].Current = tabs[i].Label == current
	}
	return tabs
}

// APIKeyScopes are the scopes an API key may have, for the create form;
// package api's test keeps them equal to its own list.
var APIKeyScopes = []string{"pipelines:read", "pipelines:write", "runs:read", "runs:write", "deployments:read", "deployments:write", "org:admin"}
