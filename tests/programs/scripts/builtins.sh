# Only shell builtins: no process is created, so this runs on a kernel without fork. The
# control case of each shell: when it fails, the shell itself does not start.
count=0
for word in alpha beta gamma; do
    count=$((count + 1))
    case $word in
        b*) echo "$count: $word starts with b" ;;
        *) echo "$count: $word" ;;
    esac
done
greet() { echo "hello, $1"; return 3; }
greet world
echo "the function returned $?"
if [ -f data/fruits.txt ] && [ ! -d data/fruits.txt ]; then echo "data/fruits.txt is a file"; fi
while read -r line; do
    echo "read: $line"
done < data/dir/a.txt
printf '%s=%d\n' answer 42
exit 6
