module github.com/meshlab/meshlab/tools/k8sbuild/pause

go 1.26.0
