print("clipd")
