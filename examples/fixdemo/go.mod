module example.com/fixdemo

go 1.22

toolchain go1.22.5

require golang.org/x/text v0.3.8
