# A POSIX script for every shell in the corpus (busybox sh, bash, zsh): a subshell, a
# background job and wait, $(...), pipelines and exit statuses. Run from tests/programs.
(cd data/dir && echo "in a subshell: $(ls | wc -l) entries")
echo "after the subshell, still in: ${PWD##*/}"
sleep 0.05 &
job=$!
echo "started a background job"
wait "$job"
echo "wait returned $?"
(exit 4)
echo "a subshell's exit status: $?"
sh -c 'exit 3'
echo "sh -c 'exit 3' gave $?"
most=$(sort data/fruits.txt | uniq -c | sort -rn | head -n 1)
echo "most common fruit:$most"
false | true
echo "status of 'false | true': $?"
for word in one two; do echo "$word" | wc -c; done
exit 5
