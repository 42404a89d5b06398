import Pebble
print("tour")
