module gofeatures

go 1.19
