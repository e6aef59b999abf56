package cli

import "context"

