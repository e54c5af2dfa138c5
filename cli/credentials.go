package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// credentials is what buildit login keeps.
type credentials struct {
	URL    string `json:"url"`
	Token  string `json:"token"`
	Org    string `json:"org,omitempty"`
	Tenant string `json:"tenant,omitempty"`
}

// credentialsPath is where login keeps them: BUILDIT_CONFIG, else
// buildit/credentials.json under the user's config folder.
func credentialsPath() (string, error) {
	if p := os.Getenv("BUILDIT_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "buildit", "credentials.json"), nil
}

func loadCredentials() credentials {
	var c credentials
	if p, err := credentialsPath(); err == nil {
		if b, err := os.ReadFile(p); err == nil {
			_ = json.Unmarshal(b, &c)
		}
	}
	return c
}

func saveCredentials(c credentials) (string, error) {
	p, err := credentialsPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	return p, os.WriteFile(p, append(b, '\n'), 0o600)
}
