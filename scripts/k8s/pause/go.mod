module nanoseg.io/pause

go 1.26
