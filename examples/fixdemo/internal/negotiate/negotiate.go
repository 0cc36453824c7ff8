// Package negotiate picks a response language from an Accept-Language header.
//
// It relies on golang.org/x/text/language.ParseAcceptLanguage, which before
// v0.3.8 spent time quadratic in the header length (GO-2022-1059). From
// v0.3.8 an over-long tag list is rejected with an error.
package negotiate

import (
	"errors"

	"golang.org/x/text/language"
)

// ErrRejected means the header could not be used and the default applies.
var ErrRejected = errors.New("accept-language header rejected")

var supported = []language.Tag{language.English, language.French, language.German}

var matcher = language.NewMatcher(supported)

// Pick returns the best supported language for the header, or English with
// ErrRejected when the header is malformed or too large.
func Pick(header string) (language.Tag, error) {
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil {
		return language.English, errors.Join(ErrRejected, err)
	}
	tag, _, _ := matcher.Match(tags...)
	base, _ := tag.Base()
	return language.Make(base.String()), nil
}
