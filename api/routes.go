package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/buildit-ci/buildit/db"
)

// route is one endpoint under /api/v1 and who may call it.
type route struct {
	method, path string
	access
	handler gin.HandlerFunc
}

// routes is every endpoint of the API. The OpenAPI description
// (openapi.json) lists exactly these; a test keeps the two in step.
func (s *Server) routes() []route {
	var (
		signedInAny   = access{level: signedIn}
		userOnly      = access{level: signedIn, scope: noKeys}
		orgMember     = access{level: orgLevel}
		orgAdmin      = access{level: orgLevel, orgRole: db.OrgRoleAdmin, scope: ScopeOrgAdmin}
		tenantViewer  = access{level: tenantLevel, tenantRole: db.TenantRoleViewer}
		tenantAdmin   = access{level: tenantLevel, tenantRole: db.TenantRoleAdmin, scope: ScopeOrgAdmin}
		tenantOrgAdm  = access{level: tenantLevel, orgRole: db.OrgRoleAdmin, scope: ScopeOrgAdmin}
		pipelinesRead = access{level: tenantLevel, tenantRole: db.TenantRoleViewer, scope: ScopePipelinesRead}
		pipelinesEdit = access{level: tenantLevel, tenantRole: db.TenantRoleMember, scope: ScopePipelinesWrite}
		secretsRead   = access{level: tenantLevel, tenantRole: db.TenantRoleMember, scope: ScopePipelinesRead}
		secretsWrite  = access{level: tenantLevel, tenantRole: db.TenantRoleAdmin, scope: ScopePipelinesWrite}
		runsRead      = access{level: tenantLevel, tenantRole: db.TenantRoleViewer, scope: ScopeRunsRead}
		runsWrite     = access{level: tenantLevel, tenantRole: db.TenantRoleMember, scope: ScopeRunsWrite}
		deploysRead   = access{level: tenantLevel, tenantRole: db.TenantRoleViewer, scope: ScopeDeploymentsRead}
		deploysAdmin  = access{level: tenantLevel, tenantRole: db.TenantRoleAdmin, scope: ScopeDeploymentsWrite}
		deploysWrite  = access{level: tenantLevel, tenantRole: db.TenantRoleMember, scope: ScopeDeploymentsWrite}
	)
	const (
		org     = "/orgs/:org"
		tenant  = org + "/tenants/:tenant"
		pipe    = tenant + "/pipelines/:pipeline"
		secrets = tenant + "/secrets"
		run     = pipe + "/runs/:number"
		repos   = tenant + "/repositories"
		sched   = pipe + "/schedules/:schedule"
		targets = tenant + "/targets"
		envs    = tenant + "/environments"
		svcs    = tenant + "/services"
	)
	return []route{
		{http.MethodPost, "/auth/signup", access{}, s.signup},
		{http.MethodPost, "/auth/login", access{}, s.login},
		{http.MethodPost, "/auth/logout", userOnly, s.logout},
		{http.MethodGet, "/me", signedInAny, s.me},
		{http.MethodGet, "/auth/oauth/providers", access{}, s.listOAuthProviders},
		{http.MethodGet, "/auth/oauth/:forge/start", access{}, s.startOAuth},
		{http.MethodGet, "/auth/oauth/:forge/callback", access{}, s.oauthCallback},
		{http.MethodPost, "/me/oauth/:forge/link", userOnly, s.linkOAuth},

		{http.MethodGet, "/orgs", signedInAny, s.listOrgs},
		{http.MethodGet, org, orgMember, s.getOrg},
		{http.MethodGet, org + "/members", access{level: orgLevel, scope: ScopeOrgAdmin}, s.listMembers},
		{http.MethodPost, org + "/members", orgAdmin, s.addMember},
		{http.MethodPatch, org + "/members/:user", orgAdmin, s.updateMember},
		{http.MethodDelete, org + "/members/:user", orgAdmin, s.removeMember},

		{http.MethodGet, org + "/tenants", orgMember, s.listTenants},
		{http.MethodPost, org + "/tenants", orgAdmin, s.createTenant},
		{http.MethodGet, tenant, tenantViewer, s.getTenant},
		{http.MethodPatch, tenant, tenantAdmin, s.updateTenant},
		{http.MethodDelete, tenant, tenantOrgAdm, s.deleteTenant},
		{http.MethodGet, tenant + "/members", access{level: tenantLevel, tenantRole: db.TenantRoleViewer, scope: ScopeOrgAdmin}, s.listTenantMembers},
		{http.MethodPost, tenant + "/members", tenantAdmin, s.addTenantMember},

		{http.MethodGet, org + "/api-keys", orgAdmin, s.listAPIKeys},
		{http.MethodPost, org + "/api-keys", orgAdmin, s.createAPIKey},
		{http.MethodDelete, org + "/api-keys/:id", orgAdmin, s.revokeAPIKey},

		{http.MethodGet, tenant + "/pipelines", pipelinesRead, s.listPipelines},
		{http.MethodPost, tenant + "/pipelines", pipelinesEdit, s.createPipeline},
		{http.MethodGet, pipe, pipelinesRead, s.getPipeline},
		{http.MethodPut, pipe, pipelinesEdit, s.putPipeline},
		{http.MethodDelete, pipe, pipelinesEdit, s.deletePipeline},

		{http.MethodGet, tenant + "/schedules", runsRead, s.listSchedules},
		{http.MethodPost, sched + "/pause", runsWrite, s.steerSchedule("pause", scheduleNote, s.pauseSchedule)},
		{http.MethodPost, sched + "/resume", runsWrite, s.steerSchedule("resume", scheduleNote, s.resumeSchedule)},
		{http.MethodPost, sched + "/trigger", runsWrite, s.steerSchedule("trigger", noBody, s.triggerSchedule)},
		{http.MethodPost, sched + "/backfill", runsWrite, s.steerSchedule("backfill", backfillBody, s.backfillSchedule)},

		{http.MethodGet, pipe + "/runs", runsRead, s.listRuns},
		{http.MethodPost, pipe + "/runs", runsWrite, s.triggerRun},
		{http.MethodGet, run, runsRead, s.getRun},
		{http.MethodGet, run + "/logs", runsRead, s.getLogs},
		{http.MethodPost, run + "/cancel", runsWrite, s.cancelRun},
		{http.MethodPost, run + "/rerun", runsWrite, s.rerunRun},
		{http.MethodGet, run + "/artifacts", runsRead, s.listArtifacts},
		{http.MethodGet, run + "/artifacts/:name", runsRead, s.getArtifact},
		{http.MethodGet, pipe + "/caches", runsRead, s.listCaches},
		{http.MethodDelete, pipe + "/caches", runsWrite, s.deleteCaches},
		{http.MethodPost, run + "/stages/:stage/approve", runsWrite, s.approveStage},
		{http.MethodPost, run + "/stages/:stage/reject", runsWrite, s.rejectStage},

		{http.MethodGet, targets, deploysRead, s.listTargets},
		{http.MethodPost, targets, deploysAdmin, s.createTarget},
		{http.MethodGet, targets + "/:target", deploysRead, s.getTarget},
		{http.MethodPatch, targets + "/:target", deploysAdmin, s.updateTarget},
		{http.MethodDelete, targets + "/:target", deploysAdmin, s.deleteNamed("target", "target", db.DeploymentRepo.DeleteTarget)},
		{http.MethodGet, envs, deploysRead, s.listEnvironments},
		{http.MethodPost, envs, deploysAdmin, s.createEnvironment},
		{http.MethodGet, envs + "/:env", deploysRead, s.getEnvironment},
		{http.MethodPatch, envs + "/:env", deploysAdmin, s.updateEnvironment},
		{http.MethodDelete, envs + "/:env", deploysAdmin, s.deleteNamed("environment", "env", db.DeploymentRepo.DeleteEnvironment)},
		{http.MethodGet, envs + "/:env/deployments", deploysRead, s.listEnvironmentDeployments},
		{http.MethodGet, svcs, deploysRead, s.listServices},
		{http.MethodPost, svcs, deploysAdmin, s.createService},
		{http.MethodGet, svcs + "/:service", deploysRead, s.getService},
		{http.MethodPatch, svcs + "/:service", deploysAdmin, s.updateService},
		{http.MethodDelete, svcs + "/:service", deploysAdmin, s.deleteNamed("service", "service", db.DeploymentRepo.DeleteService)},
		{http.MethodPost, tenant + "/deployments/:id/rollback", deploysWrite, s.rollbackDeployment},

		{http.MethodGet, secrets, secretsRead, s.listSecrets},
		{http.MethodGet, secrets + "/:name", secretsRead, s.getSecret},
		{http.MethodPut, secrets + "/:name", secretsWrite, s.putSecret},
		{http.MethodDelete, secrets + "/:name", secretsWrite, s.deleteSecret},

		{http.MethodGet, repos, runsRead, s.listRepositories},
		{http.MethodPost, repos, tenantAdmin, s.createRepository},
		{http.MethodGet, repos + "/:id", runsRead, s.getRepository},
		{http.MethodPatch, repos + "/:id", tenantAdmin, s.updateRepository},
		{http.MethodDelete, repos + "/:id", tenantAdmin, s.deleteRepository},
		{http.MethodPost, repos + "/:id/rotate-secret", tenantAdmin, s.rotateRepositorySecret},

		{http.MethodGet, org + "/audit-logs", orgAdmin, s.listAudit},
	}
}
