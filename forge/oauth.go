package forge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
)

func oauthEndpoint(kind Kind, baseURL string) oauth2.Endpoint {
	base := strings.TrimRight(baseURL, "/")
	switch kind {
	case GitHub:
		if base == "" {
			base = "https://github.com"
		}
		return oauth2.Endpoint{AuthURL: base + "/login/oauth/authorize", TokenURL: base + "/login/oauth/access_token"}
	case GitLab:
		if base == "" {
			base = "https://gitlab.com"
		}
		return oauth2.Endpoint{AuthURL: base + "/oauth/authorize", TokenURL: base + "/oauth/token"}
	case Gitea:
		return oauth2.Endpoint{AuthURL: base + "/login/oauth/authorize", TokenURL: base + "/login/oauth/access_token"}
	}
	return oauth2.Endpoint{}
}

func fetchUser(ctx context.Context, kind Kind, apiURL string, hc *http.Client) (User, error) {
	api := strings.TrimRight(apiURL, "/")
	if hc == nil {
		hc = http.DefaultClient
	}
	switch kind {
	case GitHub:
		var u struct {
			ID    int64  `json:"id"`
			Login string `json:"login"`
			Name  string `json:"name"`
		}
		if err := getJSON(ctx, hc, kind, api+"/user", &u); err != nil {
			return User{}, err
		}
		var emails []struct {
			Email    string `json:"email"`
			Primary  bool   `json:"primary"`
			Verified bool   `json:"verified"`
		}
		if err := getJSON(ctx, hc, kind, api+"/user/emails", &emails); err != nil {
			return User{}, err
		}
		user := User{Subject: strconv.FormatInt(u.ID, 10), Login: u.Login, Name: u.Name}
		for _, e := range emails {
			if e.Primary {
				user.Email, user.EmailVerified = e.Email, e.Verified
			}
		}
		return checkUser(kind, user, u.ID)
	case GitLab:
		var u struct {
			ID          int64   `json:"id"`
			Username    string  `json:"username"`
			Name        string  `json:"name"`
			Email       string  `json:"email"`
			ConfirmedAt *string `json:"confirmed_at"`
		}
		if err := getJSON(ctx, hc, kind, api+"/user", &u); err != nil {
			return User{}, err
		}
		return checkUser(kind, User{
			Subject: strconv.FormatInt(u.ID, 10), Login: u.Username, Name: u.Name,
			Email: u.Email, EmailVerified: u.Email != "" && u.ConfirmedAt != nil && *u.ConfirmedAt != "",
		}, u.ID)
	case Gitea:
		var u struct {
			ID       int64  `json:"id"`
			Login    string `json:"login"`
			FullName string `json:"full_name"`
			Email    string `json:"email"`
		}
		if err := getJSON(ctx, hc, kind, api+"/user", &u); err != nil {
			return User{}, err
		}
		// Gitea's /user does not say whether the address is verified.
		return checkUser(kind, User{Subject: strconv.FormatInt(u.ID, 10), Login: u.Login, Name: u.FullName, Email: u.Email}, u.ID)
	}
	return User{}, fmt.Errorf("unknown forge %q", kind)
}

func checkUser(kind Kind, u User, id int64) (User, error) {
	if id <= 0 || u.Login == "" {
		return User{}, fmt.Errorf("%s user: no id or login in the answer", kind)
	}
	return u, nil
}

func getJSON(ctx context.Context, hc *http.Client, kind Kind, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%s user: %w", kind, err)
	}
	req.Header.Set("Accept", "application/json")
	if kind == GitHub {
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	}
	req.Header.Set("User-Agent", "BuildIt")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s user: %w", kind, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s user: %w", kind, err)
	}
	if resp.StatusCode != http.StatusOK {
		b := strings.TrimSpace(strings.ToValidUTF8(string(body), ""))
		if len(b) > maxErrorBody {
			b = b[:maxErrorBody]
		}
		return fmt.Errorf("%s user: %w", kind, &StatusError{Code: resp.StatusCode, Body: strings.ToValidUTF8(b, "")})
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s user: %w", kind, err)
	}
	return nil
}
