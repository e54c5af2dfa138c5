// Package repotest checks files at the root of the repository that no Go
// package compiles: the Dockerfile and docker-compose.yml. Its tests run the
// machine's Compose tool on the compose file; the package itself is empty.
package repotest
