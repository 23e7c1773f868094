// Package deploy holds no code: its tests check the deployment files beside
// it. They are a separate Go module so that k8s.io/api, apimachinery and
// kustomize stay out of the lvfsck binary's dependency set (go.mod of the
// repo root); `make test` runs them too.
package deploy
